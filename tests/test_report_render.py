"""Charts as PNG (matplotlib) and the report document rendered as text, Markdown and HTML."""

from __future__ import annotations

import io
import itertools
import math
import random
import re
import statistics
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from stackwatch.reports import charts
from stackwatch.reports.charts import PALETTE, SCALE, SHADE_COLOR, THRESHOLD_COLOR, Chart
from stackwatch.reports.document import (
    Document,
    Figure,
    Link,
    Section,
    Table,
    render_html,
    render_markdown,
    render_text,
)

DAY = 86400.0
END = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
START = END - DAY

Pixel = tuple[int, int, int]


def pixels(png: bytes) -> tuple[int, int, list[list[Pixel]]]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    raw = image.tobytes()
    data = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
    return width, height, [data[y * width : (y + 1) * width] for y in range(height)]


def rgb(color: str) -> Pixel:
    value = int(color.lstrip("#"), 16)
    return (value >> 16, (value >> 8) & 255, value & 255)


def near(a: Pixel, b: Pixel, tolerance: int = 40) -> bool:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) <= tolerance


def every_5_min(value: object, since: float = START) -> list[tuple[float, float]]:
    times = [START + i * 300 for i in range(289)]
    return [(t, value(t) if callable(value) else value) for t in times if t >= since]  # type: ignore[arg-type]


def percent_chart(series: list[charts.Series], **kwargs: object) -> Chart:
    return Chart(
        START,
        END,
        series,
        fmt=lambda v: f"{v * 100:.1f} %",
        tick=charts.percent_tick,
        high=1.0,
        tz=UTC,
        **kwargs,
    )  # type: ignore[arg-type]


def rows_of(grid: list[list[Pixel]], color: Pixel, min_share: float) -> list[int]:
    """Rows where at least ``min_share`` of the pixels have ``color``."""
    width = len(grid[0])
    return [
        y for y, row in enumerate(grid) if sum(near(p, color) for p in row) >= min_share * width
    ]


def test_a_chart_is_a_png_of_twice_its_html_size_and_small_enough_to_inline() -> None:
    """Seven noisy series over 24 h, the worst case for compression, stay under 60 KB."""
    noisy = random.Random(7)  # noqa: S311 - test data
    series = [
        charts.Series(f"app-{i}", every_5_min(lambda t: noisy.random()), PALETTE[i])
        for i in range(7)
    ]
    chart = percent_chart(series, threshold=0.8)
    png = charts.render(chart)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, grid = pixels(png)
    assert (width, height) == (chart.width * SCALE, chart.image_height * SCALE)
    assert len(png) <= charts.MAX_BYTES
    # not blank: the drawn area has many colours and a spread of brightness
    flat = [p for row in grid for p in row]
    assert len(set(flat)) > 20
    assert statistics.pstdev(sum(p) for p in flat[::7]) > 20


def test_the_threshold_is_a_dashed_line_at_its_value() -> None:
    """Series at 75 % and 85 % and the 80 % threshold: the dashed red line lies halfway."""
    below, above = (
        charts.Series("below", every_5_min(0.75), PALETTE[0]),
        charts.Series("above", every_5_min(0.85), PALETTE[1]),
    )
    _, _, grid = pixels(charts.render(percent_chart([below, above], threshold=0.8)))
    red = rows_of(grid, rgb(THRESHOLD_COLOR), 0.3)
    blue = rows_of(grid, rgb(PALETTE[0]), 0.5)
    orange = rows_of(grid, rgb(PALETTE[1]), 0.5)
    assert red
    assert blue
    assert orange
    middle = (statistics.mean(blue) + statistics.mean(orange)) / 2
    assert abs(statistics.mean(red) - middle) <= 2
    # dashed: along the line red alternates with the background
    row = grid[round(statistics.mean(red))]
    changes = sum(
        near(a, rgb(THRESHOLD_COLOR)) != near(b, rgb(THRESHOLD_COLOR))
        for a, b in itertools.pairwise(row)
    )
    assert changes > 40
    # without a threshold there is no red line
    _, _, plain = pixels(charts.render(percent_chart([below, above])))
    assert rows_of(plain, rgb(THRESHOLD_COLOR), 0.3) == []


def test_a_short_history_is_shaded_and_said() -> None:
    """Prometheus has data for the last 3 h only: the 21 h before are shaded and labelled."""
    since = END - 3 * 3600
    series = [charts.Series("CPU", every_5_min(0.3, since=since))]
    chart = percent_chart(series, data_since=since)
    _, height, grid = pixels(charts.render(chart))
    plot_row = grid[height // 4]  # inside the plot, above the legend
    width = len(plot_row)
    assert near(plot_row[width // 4], rgb(SHADE_COLOR), 12)  # at about 6 h of 24
    assert chart.no_data_before() == "17:26"
    full = percent_chart([charts.Series("CPU", every_5_min(0.3))], data_since=None)
    _, _, grid = pixels(charts.render(full))
    assert not near(grid[height // 4][width // 4], rgb(SHADE_COLOR), 12)
    assert full.no_data_before() is None


def test_the_time_of_day_is_local() -> None:
    since = END - 3 * 3600
    chart = Chart(START, END, [], fmt=str, data_since=since, tz=ZoneInfo("Asia/Tokyo"))
    assert chart.no_data_before() == "02:26"  # 17:26 UTC


def test_the_legend_has_min_avg_and_max_and_gaps_stay_empty() -> None:
    points = [(START, 0.1), (START + 300, math.nan), (END - 300, 0.5), (END, 0.3)]
    chart = percent_chart([charts.Series("RAM", points), charts.Series("swap", [])])
    assert chart.legend_lines() == ["RAM: min 10.0 % · avg 30.0 % · max 50.0 %", "swap: no data"]
    png = charts.render(chart)
    assert len(png) < charts.MAX_BYTES


def test_byte_ticks_are_round_binary_steps() -> None:
    assert charts.binary_step(700 * 2**20) == 200 * 2**20
    assert charts.binary_step(3 * 2**30) == 1 * 2**30
    assert charts.binary_step(10_000) == 2.5 * 1024


def test_the_exporter_the_alerter_and_the_command_line_do_not_load_matplotlib() -> None:
    code = (
        "import sys, stackwatch.cli, exporter.server, alerter.check, stackwatch.reports.daily; "
        "stackwatch.cli.build_parser() if hasattr(stackwatch.cli, 'build_parser') else None; "
        "print(sorted(m for m in ('matplotlib', 'PIL', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert out.stdout.strip() == "[]"


def hostile_document() -> Document:
    table = Table(["Name", "Value"], numeric={1})
    table.add(["<script>alert(1)</script>", "a|b"], bad=True)
    table.add([Link("run <1>", "http://ui/runs/flow-run/1?x=1&y=2"), "2"])
    return Document(
        title="Daily <summary>",
        subtitle="sub & title",
        attention=["disk <full>"],
        sections=[
            Section("Services", tables=[table], lines=["1 of 2 up"]),
            Section("k3s", unavailable="k3s: not configured"),
        ],
    )


def test_html_escapes_everything_and_styles_inline() -> None:
    html = render_html(hostile_document())
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="http://ui/runs/flow-run/1?x=1&amp;y=2"' in html
    assert "run &lt;1&gt;" in html
    assert "<style" not in html  # Gmail drops <style> blocks: every style is inline
    assert "disk &lt;full&gt;" in html
    assert "k3s: not configured" in html


def test_markdown_and_text_keep_tables_intact() -> None:
    doc = hostile_document()
    markdown = render_markdown(doc)
    row = next(line for line in markdown.splitlines() if "script" in line)
    assert row.count(" | ") == 1  # the pipe in "a|b" is escaped, not a new column
    assert "a\\|b" in row
    assert "[run <1>](http://ui/runs/flow-run/1?x=1&y=2)" in markdown
    assert "_k3s: not configured_" in markdown
    text = render_text(doc)
    assert "! <script>alert(1)</script>" in text
    assert "run <1>: http://ui/runs/flow-run/1?x=1&y=2" in text
    assert "Needs attention:\n  ! disk <full>" in text


def test_prefect_urls_come_from_config_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from stackwatch.config import Config
    from stackwatch.links import api_url, run_url, ui_url

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    assert api_url(Config()) is None
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect:4200/api/")
    assert api_url(Config()) == "http://prefect:4200/api"
    assert ui_url(Config(), "http://prefect:4200/api") == "http://prefect:4200"
    config = Config.model_validate(
        {
            "prefect": {"api_url": "http://10.0.0.5:4200/api"},
            "links": {"prefect_ui_url": "https://prefect.example.org/"},
        }
    )
    assert api_url(config) == "http://10.0.0.5:4200/api"
    ui = ui_url(config, "http://10.0.0.5:4200/api")
    assert run_url(ui, "abc") == "https://prefect.example.org/runs/flow-run/abc"
    monkeypatch.setenv("PREFECT_UI_URL", "https://ui.example.org")
    assert ui_url(config, None) == "https://ui.example.org"


def test_a_missing_prometheus_credential_is_one_line_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from stackwatch.config import Config
    from stackwatch.reports.daily import build_daily_report

    monkeypatch.delenv("PROM_TOKEN_FOR_TEST", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    config = Config.model_validate(
        {
            "prometheus": {"bearer_token": {"env": "PROM_TOKEN_FOR_TEST"}},
            "state": {"path": str(tmp_path / "none.db")},
        }
    )

    report = build_daily_report(config, flow_runs=None)

    assert "Prometheus error: environment variable PROM_TOKEN_FOR_TEST is not set" in report.text
    assert "Prefect: not configured" in report.text
    assert report.subject.endswith("1 need(s) attention")


def test_the_newest_point_survives_millisecond_rounding() -> None:
    """Prometheus answers at the millisecond the query named, which may round ``now`` up."""
    from datetime import UTC, datetime

    from stackwatch.prometheus import _timestamp
    from stackwatch.reports.sections.source import PromSource

    now = datetime(2026, 11, 27, 12, 0, 0, 999600, tzinfo=UTC)  # .9996 s is sent as 1.000
    source = PromSource(None, "stackwatch", now)  # type: ignore[arg-type]
    sent = float(f"{_timestamp(source.end):.3f}")
    assert source.start <= sent <= source.end


def test_every_server_query_names_the_job_once_even_when_it_contains_sel() -> None:
    """The job's selector is put into each query once: a job named ``SELFHOSTED`` stays whole."""
    from datetime import UTC, datetime

    from stackwatch.config import Config
    from stackwatch.prometheus import Sample, Series
    from stackwatch.reports.sections import host
    from stackwatch.reports.sections.gate import Context, Unavailable
    from stackwatch.reports.sections.source import PromSource

    sent: list[str] = []

    class Recorder:
        def query(self, expr: str, at: float) -> list[Sample]:
            sent.append(expr)
            return []

        def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
            sent.append(expr)
            return []

    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    source = PromSource(Recorder(), "SELFHOSTED", now)  # type: ignore[arg-type]
    with pytest.raises(Unavailable, match="no host metrics"):
        host.build(Context(Config(), now, source, None))
    assert sent
    for expr in sent:
        jobs = re.findall(r'job="([^"]*)"', expr)
        assert jobs, expr
        assert set(jobs) == {"SELFHOSTED"}, expr


def test_a_chart_reads_as_text_in_every_rendering() -> None:
    """Without images (a text-only client, the Prefect artifact) the chart's numbers remain."""
    figure = Figure(
        cid="cpu-24h",
        title="CPU use, last 24 h",
        png=b"",
        notes=["CPU: min 1.0 % · avg 2.0 % · max 3.0 %", "alert above 80 %"],
        width=600,
        height=190,
    )
    doc = Document(title="t", subtitle="s", sections=[Section("Server", figures=[figure])])
    html = render_html(doc)
    assert (
        'alt="CPU use, last 24 h: CPU: min 1.0 % · avg 2.0 % · max 3.0 %; alert above 80 %"' in html
    )
    assert 'width="600" height="190"' in html
    assert ">alert above 80 %</div>" in html
    text = render_text(doc)
    assert "CPU use, last 24 h (chart in the HTML version):\n  CPU: min 1.0 % · avg" in text
    markdown = render_markdown(doc)
    assert "**CPU use, last 24 h** (chart in the mail)\n\n- CPU: min 1.0 %" in markdown
