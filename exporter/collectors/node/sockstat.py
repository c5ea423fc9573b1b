"""node_exporter's sockstat collector: sockets in use per protocol, IPv4 and IPv6.

# HELP node_sockstat_sockets_used Number of IPv4 sockets in use.
# TYPE node_sockstat_sockets_used gauge
# HELP node_sockstat_TCP_inuse Number of TCP sockets in state inuse.
# TYPE node_sockstat_TCP_inuse gauge
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.sockstat import parse_sockstat

# The keys node_exporter exports, in its order; mem is in pages, mem_bytes derived from it.
KEYS = ("inuse", "orphan", "tw", "alloc", "mem", "mem_bytes", "memory")


class SockstatCollector(NodeCollector):
    """``node_sockstat_<PROTOCOL>_<key>`` from ``/proc/net/sockstat`` and ``sockstat6``."""

    name = "sockstat"

    def __init__(self, page_size: int | None = None) -> None:
        self.page_size = page_size or os.sysconf("SC_PAGESIZE")

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        v4 = proc.optional(proc.net("sockstat"), parse_sockstat)
        v6 = proc.optional(proc.net("sockstat6"), parse_sockstat)
        for stat in (v4, v6):
            if stat is None:
                continue
            for protocol, pairs in stat.protocols.items():
                if "mem" in pairs:
                    pairs = {**pairs, "mem_bytes": pairs["mem"] * self.page_size}
                for key in KEYS:
                    if key in pairs:
                        yield GaugeMetricFamily(
                            f"node_sockstat_{protocol}_{key}",
                            f"Number of {protocol} sockets in state {key}.",
                            value=pairs[key],
                        )
        if v4 is not None and v4.used is not None:
            yield GaugeMetricFamily(
                "node_sockstat_sockets_used", "Number of IPv4 sockets in use.", value=v4.used
            )
