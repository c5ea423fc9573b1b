"""node_exporter's softnet collector: per-CPU packet processing from ``/proc/net/softnet_stat``.

# HELP node_softnet_processed_total Number of processed packets
# TYPE node_softnet_processed_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.softnet import parse_softnet


class SoftnetCollector(NodeCollector):
    """``node_softnet_{processed,dropped,times_squeezed}_total{cpu}``."""

    name = "softnet"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        stats = proc.optional(proc.net("softnet_stat"), parse_softnet)
        if stats is None:
            return
        processed = CounterMetricFamily(
            "node_softnet_processed", "Number of processed packets", labels=["cpu"]
        )
        dropped = CounterMetricFamily(
            "node_softnet_dropped", "Number of dropped packets", labels=["cpu"]
        )
        squeezed = CounterMetricFamily(
            "node_softnet_times_squeezed",
            "Number of times processing packets ran out of quota",
            labels=["cpu"],
        )
        for cpu, stat in enumerate(stats):
            processed.add_metric([str(cpu)], stat.processed)
            dropped.add_metric([str(cpu)], stat.dropped)
            squeezed.add_metric([str(cpu)], stat.times_squeezed)
        yield from (processed, dropped, squeezed)
