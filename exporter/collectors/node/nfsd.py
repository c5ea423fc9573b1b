"""node_exporter's nfsd collector: the NFS server's counters, when the server is loaded.

# HELP node_nfsd_requests_total Total number NFSd Requests by method and protocol.
# TYPE node_nfsd_requests_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.nfsd import parse_nfsd

NAME = "net/rpc/nfsd"
# Procedures node_exporter leaves out: NULL calls, and v4 operations that are never counted.
_SKIPPED = {"Null", "Op0Unused", "Op1Unused", "Op2Future", "PutPubFH", "PutRootFH"}
# (metric, help, line, index) of the single counters, node_exporter's words.
COUNTERS = (
    (
        "reply_cache_hits",
        "Total number of NFSd Reply Cache hits (client lost server response).",
        "rc",
        0,
    ),
    (
        "reply_cache_misses",
        "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
        "rc",
        1,
    ),
    (
        "reply_cache_nocache",
        "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
        "rc",
        2,
    ),
    ("file_handles_stale", "Total number of NFSd stale file handles", "fh", 0),
    ("disk_bytes_read", "Total NFSd bytes read.", "io", 0),
    ("disk_bytes_written", "Total NFSd bytes written.", "io", 1),
    ("read_ahead_cache_not_found", "Total number of NFSd read ahead cache not found.", "ra", 11),
    ("connections", "Total number of NFSd TCP connections.", "net", 3),
    ("server_rpcs", "Total number of NFSd RPCs.", "rpc", 0),
)


class NfsdCollector(NodeCollector):
    """``node_nfsd_*`` from ``/proc/net/rpc/nfsd``; nothing where that file is absent."""

    name = "nfsd"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        if not (proc.path / NAME).is_file():
            return
        stats = proc.parsed(NAME, parse_nfsd)
        for metric, doc, line, index in COUNTERS:
            yield CounterMetricFamily(f"node_nfsd_{metric}", doc, value=stats.value(line, index))
        yield GaugeMetricFamily(
            "node_nfsd_server_threads",
            "Total number of NFSd kernel threads that are running.",
            value=stats.value("th", 0),
        )
        yield GaugeMetricFamily(
            "node_nfsd_read_ahead_cache_size_blocks",
            "How large the read ahead cache is in blocks.",
            value=stats.value("ra", 0),
        )
        packets = CounterMetricFamily(
            "node_nfsd_packets",
            "Total NFSd network packets (sent+received) by protocol type.",
            labels=["proto"],
        )
        packets.add_metric(["udp"], stats.value("net", 1))
        packets.add_metric(["tcp"], stats.value("net", 2))
        yield packets
        errors = CounterMetricFamily(
            "node_nfsd_rpc_errors",
            "Total number of NFSd RPC errors by error type.",
            labels=["error"],
        )
        for index, kind in ((2, "fmt"), (3, "auth"), (4, "cInt")):
            errors.add_metric([kind], stats.value("rpc", index))
        yield errors
        requests = CounterMetricFamily(
            "node_nfsd_requests",
            "Total number NFSd Requests by method and protocol.",
            labels=["proto", "method"],
        )
        for version, counts in stats.procedures.items():
            for method, count in counts.items():
                if method not in _SKIPPED:
                    requests.add_metric([version, method], count)
        yield requests
