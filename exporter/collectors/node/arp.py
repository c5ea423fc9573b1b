"""node_exporter's arp collector: ARP table entries per device.

# HELP node_arp_entries ARP entries by device
# TYPE node_arp_entries gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.arp import parse_arp


class ArpCollector(NodeCollector):
    """``node_arp_entries{device}`` from ``/proc/net/arp``."""

    name = "arp"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        entries = proc.optional(proc.net("arp"), parse_arp)
        if entries is None:
            return
        family = GaugeMetricFamily("node_arp_entries", "ARP entries by device", labels=["device"])
        for device, count in entries.items():
            family.add_metric([device], count)
        yield family
