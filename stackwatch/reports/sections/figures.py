"""A report chart from Prometheus series: the image and the same numbers as text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from stackwatch.format import human_bytes, percent
from stackwatch.prometheus import Series
from stackwatch.reports import charts
from stackwatch.reports.document import Figure
from stackwatch.reports.sections.source import PromSource

TOP = 5  # containers per chart, the busiest first


def cores(value: float) -> str:
    return f"{value:.2f} cores"


def cores_tick(value: float) -> str:
    return f"{value:g} cores"


def bytes_tick(value: float) -> str:
    return human_bytes(value).replace(".0 ", " ")


UNITS: dict[str, dict[str, object]] = {
    "percent": {"fmt": percent, "tick": charts.percent_tick, "high": 1.0},
    "cores": {"fmt": cores, "tick": cores_tick},
    "bytes": {"fmt": human_bytes, "tick": bytes_tick, "binary": True},
}


def figure(
    cid: str,
    title: str,
    prom: PromSource,
    lines: Sequence[tuple[str, Series]],
    *,
    unit: str,
    threshold: float | None = None,
) -> Figure:
    """One chart of ``lines`` over the report's window, shaded where Prometheus has no data."""
    drawn = [
        charts.Series(label, series.values, charts.PALETTE[i % len(charts.PALETTE)])
        for i, (label, series) in enumerate(lines)
    ]
    chart = charts.Chart(
        prom.start,
        prom.end,
        drawn,
        threshold=threshold,
        data_since=prom.history_start(),
        **UNITS[unit],  # type: ignore[arg-type]
    )
    notes = chart.legend_lines()
    if threshold is not None and chart.tick is not None:
        notes.append(f"alert above {chart.tick(threshold)}")
    before = chart.no_data_before()
    if before is not None:
        zone = datetime.fromtimestamp(prom.end, tz=chart.tz or charts.local_zone()).strftime("%Z")
        notes.append(f"no data before {before} {zone}".rstrip())
    return Figure(cid, title, charts.render(chart), notes, chart.width, chart.image_height)


def busiest(series: list[Series], top: int = TOP) -> list[Series]:
    """The ``top`` series with the highest average over the window."""

    def average(item: Series) -> float:
        values = [v for _, v in item.values if v == v]  # NaN != NaN
        return sum(values) / len(values) if values else 0.0

    return sorted(series, key=lambda s: (-average(s), s.labels.get("name", "")))[:top]
