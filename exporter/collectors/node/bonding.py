"""node_exporter's bonding collector: slaves of each bonding interface, where bonding is loaded.

# HELP node_bonding_slaves Number of configured slaves per bonding interface.
# TYPE node_bonding_slaves gauge
# HELP node_bonding_active Number of active slaves per bonding interface.
# TYPE node_bonding_active gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.bonding import read_bonding


class BondingCollector(NodeCollector):
    """``node_bonding_slaves{master}`` and ``node_bonding_active{master}`` (MII status up)."""

    name = "bonding"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        bonds = read_bonding(proc.sys / "class" / "net")
        if bonds is None:
            return
        slaves = GaugeMetricFamily(
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
            labels=["master"],
        )
        active = GaugeMetricFamily(
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
            labels=["master"],
        )
        for master, bond in bonds.items():
            slaves.add_metric([master], bond.slaves)
            active.add_metric([master], bond.active)
        yield slaves
        yield active
