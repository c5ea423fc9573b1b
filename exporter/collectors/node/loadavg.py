"""node_exporter's loadavg collector, and the thread count that ``/proc/loadavg`` also holds."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.loadavg import parse_loadavg


class LoadavgCollector(NodeCollector):
    """``node_load1``, ``node_load5``, ``node_load15`` and ``node_processes_threads``."""

    name = "loadavg"
    files = ("loadavg",)

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        load = proc.parsed("loadavg", parse_loadavg)
        yield GaugeMetricFamily("node_load1", "1m load average.", value=load.load1)
        yield GaugeMetricFamily("node_load5", "5m load average.", value=load.load5)
        yield GaugeMetricFamily("node_load15", "15m load average.", value=load.load15)
        yield GaugeMetricFamily(
            "node_processes_threads", "Allocated threads in system", value=load.threads
        )
