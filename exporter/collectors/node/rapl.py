"""node_exporter's rapl collector: energy counters of the CPU's power zones, when present.

# HELP node_rapl_package_joules_total Current RAPL package value in joules
# TYPE node_rapl_package_joules_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.powercap import RaplZone, rapl_zones


class RaplCollector(NodeCollector):
    """``node_rapl_<zone>_joules_total{index,path}`` from ``/sys/class/powercap``."""

    name = "rapl"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        try:
            zones = rapl_zones(proc.path.parent / "sys")
        except PermissionError:
            # energy_uj is root's only on newer kernels: node_exporter then reports no data.
            return
        by_name: dict[str, list[RaplZone]] = {}
        for zone in zones or ():
            by_name.setdefault(zone.name, []).append(zone)
        for name, members in by_name.items():
            family = CounterMetricFamily(
                f"node_rapl_{name}_joules",
                f"Current RAPL {name} value in joules",
                labels=["index", "path"],
            )
            for zone in members:
                family.add_metric([str(zone.index), str(zone.path)], zone.microjoules / 1e6)
            yield family
