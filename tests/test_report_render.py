"""Charts as PNG and the report document rendered as text, Markdown and mail HTML."""

from __future__ import annotations

import math
import re
import struct
import zlib
from pathlib import Path

import pytest

from stackwatch.reports.charts import (
    AXIS,
    BACKGROUND,
    GRID,
    PALETTE,
    Chart,
    Line,
    decode_png,
    encode_png,
)
from stackwatch.reports.document import (
    Document,
    Link,
    Section,
    Table,
    render_html,
    render_markdown,
    render_text,
)

DAY = 86400.0


def pixels(png: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    width, height, rows = decode_png(png)
    grid = [[(row[3 * x], row[3 * x + 1], row[3 * x + 2]) for x in range(width)] for row in rows]
    return width, height, grid


def test_png_is_valid_for_zlib_and_crc_readers() -> None:
    rows = [bytes([10 * y, 20, 30]) * 4 for y in range(3)]
    png = encode_png(4, 3, rows)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (4, 3)
    assert png[24:29] == bytes([8, 2, 0, 0, 0])  # 8-bit truecolour, no interlace
    _, _, decoded = decode_png(png)
    assert decoded == rows
    with pytest.raises(ValueError, match="3 \\* width"):
        encode_png(5, 3, rows)


def test_rising_line_goes_from_bottom_left_to_top_right() -> None:
    chart = Chart(0, DAY, [Line("cpu", [(t, t / DAY) for t in range(0, int(DAY) + 1, 300)])])
    width, height, grid = pixels(chart.render())
    assert (width, height) == (chart.width, chart.height)
    blue = PALETTE[0]
    columns = [x for x in range(width) if any(grid[y][x] == blue for y in range(height))]
    assert columns[0] <= chart.margin + 1
    assert columns[-1] >= width - chart.margin - 2
    left_rows = [y for y in range(height) if grid[y][columns[0]] == blue]
    right_rows = [y for y in range(height) if grid[y][columns[-1]] == blue]
    assert min(left_rows) > height - chart.margin - 4  # starts at 0 %
    assert max(right_rows) < chart.margin + 4  # ends at 100 %
    # grid lines and axes are drawn under the data
    flat = {p for row in grid for p in row}
    assert {GRID, AXIS, BACKGROUND} <= flat


def test_gaps_values_out_of_range_and_several_lines() -> None:
    points = [(0.0, 0.5), (DAY / 4, 0.5), (DAY / 2, math.nan), (DAY * 0.75, 2.0), (DAY, 2.0)]
    other = [(0.0, -1.0), (DAY, -1.0)]
    chart = Chart(0, DAY, [Line("a", points, PALETTE[0]), Line("b", other, PALETTE[1])])
    width, height, grid = pixels(chart.render())
    middle = width // 2
    # nothing drawn across the NaN gap at mid-day
    assert not any(grid[y][middle] == PALETTE[0] for y in range(height))
    # 2.0 is clamped to the top edge, -1.0 to the bottom one, both visible
    assert any(grid[y][width - chart.margin - 2] == PALETTE[0] for y in range(chart.margin + 3))
    assert any(grid[y][middle] == PALETTE[1] for y in range(height - chart.margin - 3, height))


def test_a_single_point_is_still_visible() -> None:
    chart = Chart(0, DAY, [Line("ram", [(DAY, 0.3)])])
    _, _, grid = pixels(chart.render())
    assert sum(row.count(PALETTE[0]) for row in grid) >= 25  # a 5 x 5 dot


def test_chart_is_small_enough_to_inline() -> None:
    chart = Chart(
        0,
        DAY,
        [
            Line(str(i), [(t, (t / DAY + i / 7) % 1) for t in range(0, 86401, 300)], PALETTE[i])
            for i in range(7)
        ],
    )
    png = chart.render()
    assert len(png) < 40_000
    assert zlib.decompress(png[png.index(b"IDAT") + 4 : -16])  # one IDAT chunk, valid zlib


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
