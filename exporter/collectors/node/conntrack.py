"""node_exporter's conntrack collector: the netfilter connection table, where it is loaded.

# HELP node_nf_conntrack_entries Number of currently allocated flow entries for connection tracking.
# TYPE node_nf_conntrack_entries gauge
# HELP node_nf_conntrack_entries_limit Maximum size of connection tracking table.
# TYPE node_nf_conntrack_entries_limit gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.conntrack import parse_conntrack_stat

# node_nf_conntrack_stat_<name> and node_exporter's HELP for each.
STAT_HELP = {
    "found": "Number of searched entries which were successful.",
    "invalid": "Number of packets seen which can not be tracked.",
    "ignore": "Number of packets seen which are already connected to a conntrack entry.",
    "insert": "Number of entries inserted into the list.",
    "insert_failed": "Number of entries for which list insertion was attempted but failed.",
    "drop": "Number of packets dropped due to conntrack failure.",
    "early_drop": (
        "Number of dropped conntrack entries to make room for new ones, "
        "if maximum table size was reached."
    ),
    "search_restart": (
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes."
    ),
}


def parse_number(text: str) -> int:
    return int(text.strip())


class ConntrackCollector(NodeCollector):
    """``node_nf_conntrack_entries``, ``_entries_limit`` and ``_stat_*`` (summed over CPUs)."""

    name = "conntrack"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        count = proc.optional("sys/net/netfilter/nf_conntrack_count", parse_number)
        if count is None:  # nf_conntrack not loaded
            return
        yield GaugeMetricFamily(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            value=count,
        )
        limit = proc.optional("sys/net/netfilter/nf_conntrack_max", parse_number)
        if limit is None:
            return
        yield GaugeMetricFamily(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            value=limit,
        )
        stats = proc.optional(proc.net("stat/nf_conntrack"), parse_conntrack_stat)
        if stats is None:
            return
        for name, help_text in STAT_HELP.items():
            yield GaugeMetricFamily(f"node_nf_conntrack_stat_{name}", help_text, value=stats[name])
