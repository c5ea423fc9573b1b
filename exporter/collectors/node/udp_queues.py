"""node_exporter's udp_queues collector: memory queued in UDP sockets, IPv4 and IPv6.

# HELP node_udp_queues Number of allocated memory in the kernel for UDP datagrams in bytes.
# TYPE node_udp_queues gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.net_udp import parse_udp_queues


class UdpQueuesCollector(NodeCollector):
    """``node_udp_queues{ip="v4"|"v6",queue="tx"|"rx"}`` from ``/proc/net/udp`` and ``udp6``."""

    name = "udp_queues"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
            labels=["ip", "queue"],
        )
        for ip, name in (("v4", "udp"), ("v6", "udp6")):
            queues = proc.optional(proc.net(name), parse_udp_queues)
            if queues is not None:
                family.add_metric([ip, "tx"], queues.tx)
                family.add_metric([ip, "rx"], queues.rx)
        if family.samples:
            yield family
