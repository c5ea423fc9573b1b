"""node_exporter's meminfo collector: every ``/proc/meminfo`` field as a gauge."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.meminfo import parse_meminfo


class MeminfoCollector(NodeCollector):
    """``node_memory_<field>_bytes`` (or ``node_memory_<field>`` for counts)."""

    name = "meminfo"
    files = ("meminfo",)

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        for key, value in proc.parsed("meminfo", parse_meminfo).items():
            yield GaugeMetricFamily(
                f"node_memory_{key}", f"Memory information field {key}.", value=value
            )
