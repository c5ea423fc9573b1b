"""node_exporter's time collector: the system clock, its time zone and its clocksources."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.files import read_text

CLOCKSOURCE = "devices/system/clocksource"


class TimeCollector(NodeCollector):
    """``node_time_seconds``, so clock drift between hosts shows, with the time zone's offset
    and the kernel's clocksources (a VM that fell back from ``tsc`` keeps worse time)."""

    name = "time"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        now = time.time()
        yield GaugeMetricFamily(
            "node_time_seconds", "System time in seconds since epoch (1970).", value=now
        )
        local = time.localtime(now)
        zone = GaugeMetricFamily(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
            labels=["time_zone"],
        )
        zone.add_metric([local.tm_zone], float(local.tm_gmtoff))
        yield zone
        yield from _clocksources(proc)


def _clocksources(proc: ProcFiles) -> Iterator[Metric]:
    folder = proc.sys / CLOCKSOURCE
    try:
        devices = sorted(p for p in folder.iterdir() if p.name.startswith("clocksource"))
    except OSError:  # no such sysfs class here: node_exporter exports nothing either
        return
    where = "/sys/devices/system/clocksource"
    available = GaugeMetricFamily(
        "node_time_clocksource_available_info",
        f"Available clocksources read from '{where}'.",
        labels=["clocksource", "device"],
    )
    current = GaugeMetricFamily(
        "node_time_clocksource_current_info",
        f"Current clocksource read from '{where}'.",
        labels=["clocksource", "device"],
    )
    for device in devices:
        number = device.name.removeprefix("clocksource")
        for source in (read_text(device / "available_clocksource") or "").split():
            available.add_metric([source, number], 1.0)
        name = (read_text(device / "current_clocksource") or "").strip()
        if name:
            current.add_metric([name, number], 1.0)
    yield available
    yield current
