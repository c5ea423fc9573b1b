"""Server: uptime, CPU, RAM and disk now, on average and at most over 24 h, with charts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from stackwatch import promql
from stackwatch.format import human_bytes, human_duration, percent
from stackwatch.prometheus import Series
from stackwatch.reports.document import Section, Table
from stackwatch.reports.sections.figures import figure
from stackwatch.reports.sections.gate import Context, SectionSpec, Unavailable
from stackwatch.reports.sections.source import STEP

TITLE = "Server"


@dataclass(frozen=True)
class Stats:
    now: float | None
    avg: float | None
    max: float | None


def stats(series: Series, end: float) -> Stats:
    values = [v for _, v in series.values if not math.isnan(v)]
    last_t, last_v = series.values[-1] if series.values else (0.0, math.nan)
    now = last_v if abs(last_t - end) < STEP / 2 and not math.isnan(last_v) else None
    if not values:
        return Stats(now, None, None)
    return Stats(now, sum(values) / len(values), max(values))


def one_per_device(series: list[Series]) -> list[Series]:
    """One series per filesystem: bind mounts of a device collapse to its shortest mount point."""
    best: dict[tuple[str, str], Series] = {}
    for item in series:
        key = (item.labels.get("instance", ""), item.labels.get("device", ""))
        mount = item.labels.get("mountpoint", "")
        current = best.get(key)
        if current is None or (len(mount), mount) < (
            len(current.labels.get("mountpoint", "")),
            current.labels.get("mountpoint", ""),
        ):
            best[key] = item
    return list(best.values())


def build(ctx: Context) -> Section:
    prom = ctx.prom
    section = Section(TITLE)
    uptime = prom.query("time() - node_boot_time_seconds{SEL}")
    uname = {s.labels.get("instance", ""): s.labels for s in prom.query("node_uname_info{SEL}")}
    cpu = prom.range(promql.cpu_used("SEL"))
    ram = prom.range(promql.ram_used("SEL"))
    disk = one_per_device(prom.range(promql.disk_used("SEL")))
    sizes = {
        (s.labels.get("instance"), s.labels.get("mountpoint")): s.value
        for s in prom.query(promql.filesystem_size("SEL"))
    }
    avail = {
        (s.labels.get("instance"), s.labels.get("mountpoint")): s.value
        for s in prom.query(promql.filesystem_avail("SEL"))
    }
    if not (uptime or cpu or ram or disk):
        raise Unavailable(
            f"Server: no host metrics in Prometheus for {prom.sel} (is the exporter scraped?)",
            attention="Server: no host metrics in Prometheus",
        )
    several = len({s.labels.get("instance", "") for s in [*cpu, *ram, *disk]}) > 1

    def name(labels: Mapping[str, str], what: str) -> str:
        return f"{labels.get('instance', '')} {what}" if several else what

    for sample in uptime:
        host = uname.get(sample.labels.get("instance", ""), {}).get("nodename")
        who = host or sample.labels.get("instance", "server")
        section.lines.append(f"{who}: up {human_duration(sample.value)}")
    table = Table(
        ["", "Now", "24 h average", "24 h maximum", "Size", "Free"], numeric={1, 2, 3, 4, 5}
    )

    def add(title: str, series: Series, warn: float, size: str = "", free: str = "") -> None:
        s = stats(series, prom.end)
        high = s.now is not None and s.now >= warn
        table.add([title, percent(s.now), percent(s.avg), percent(s.max), size, free], bad=high)
        if high:
            ctx.attention.append(f"{title} at {percent(s.now)}")

    for series in cpu:
        add(name(series.labels, "CPU"), series, promql.CPU_WARN)
    for series in ram:
        add(name(series.labels, "RAM"), series, promql.RAM_WARN)
    for series in sorted(
        disk, key=lambda x: (x.labels.get("instance", ""), x.labels.get("mountpoint", ""))
    ):
        key = (series.labels.get("instance"), series.labels.get("mountpoint"))
        mount = series.labels.get("mountpoint", "?")
        add(
            name(series.labels, f"Disk {mount}"),
            series,
            promql.DISK_WARN,
            human_bytes(sizes.get(key)),
            human_bytes(avail.get(key)),
        )
    section.tables.append(table)
    charts = [
        (
            "cpu-24h",
            "CPU use, last 24 h",
            [(name(s.labels, "CPU"), s) for s in cpu],
            promql.CPU_WARN,
        ),
        (
            "ram-24h",
            "RAM use, last 24 h",
            [(name(s.labels, "RAM"), s) for s in ram],
            promql.RAM_WARN,
        ),
        (
            "disk-24h",
            "Disk use per filesystem, last 24 h",
            [(name(s.labels, s.labels.get("mountpoint", "?")), s) for s in disk],
            promql.DISK_WARN,
        ),
    ]
    section.figures = [
        figure(cid, title, prom, lines, unit="percent", threshold=warn)
        for cid, title, lines, warn in charts
        if lines
    ]
    return section


SECTION = SectionSpec(TITLE, build, prometheus=True)
