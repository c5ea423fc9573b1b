"""node_exporter's meminfo collector: every ``/proc/meminfo`` field as a gauge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, read_proc_file
from exporter.procfs.meminfo import parse_meminfo


class MeminfoCollector(NodeCollector):
    """``node_memory_<field>_bytes`` (or ``node_memory_<field>`` for counts)."""

    name = "meminfo"
    files = ("meminfo",)

    def __init__(self, proc: Path) -> None:
        self.proc = proc

    def collect(self) -> Iterator[Metric]:
        for key, value in parse_meminfo(read_proc_file(self.proc / "meminfo")).items():
            yield GaugeMetricFamily(
                f"node_memory_{key}", f"Memory information field {key}.", value=value
            )
