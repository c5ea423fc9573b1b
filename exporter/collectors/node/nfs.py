"""node_exporter's nfs collector: the NFS client's RPC counters, when the client is loaded.

# HELP node_nfs_requests_total Number of NFS procedures invoked.
# TYPE node_nfs_requests_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.nfs import parse_nfs

NAME = "net/rpc/nfs"


class NfsCollector(NodeCollector):
    """``node_nfs_*`` from ``/proc/net/rpc/nfs``; nothing where that file is absent."""

    name = "nfs"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        if not (proc.path / NAME).is_file():
            return
        stats = proc.parsed(NAME, parse_nfs)
        packets = CounterMetricFamily(
            "node_nfs_packets",
            "Total NFSd network packets (sent+received) by protocol type.",
            labels=["protocol"],
        )
        packets.add_metric(["udp"], stats.net[1])
        packets.add_metric(["tcp"], stats.net[2])
        yield packets
        yield CounterMetricFamily(
            "node_nfs_connections", "Total number of NFSd TCP connections.", value=stats.net[3]
        )
        yield CounterMetricFamily(
            "node_nfs_rpcs", "Total number of RPCs performed.", value=stats.rpc[0]
        )
        yield CounterMetricFamily(
            "node_nfs_rpc_retransmissions",
            "Number of RPC transmissions performed.",
            value=stats.rpc[1],
        )
        yield CounterMetricFamily(
            "node_nfs_rpc_authentication_refreshes",
            "Number of RPC authentication refreshes performed.",
            value=stats.rpc[2],
        )
        requests = CounterMetricFamily(
            "node_nfs_requests",
            "Number of NFS procedures invoked.",
            labels=["proto", "method"],
        )
        for version, counts in stats.procedures.items():
            for method, count in counts.items():
                requests.add_metric([version, method], count)
        yield requests
