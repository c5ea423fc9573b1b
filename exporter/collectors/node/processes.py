"""node_exporter's processes collector, in part: the number of PIDs under ``/proc``."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles


class ProcessesCollector(NodeCollector):
    """``node_processes_pids``; ``node_processes_threads`` comes with loadavg, whose file has it."""

    name = "processes"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        pids = sum(1 for entry in os.scandir(proc.path) if entry.name.isdigit())
        yield GaugeMetricFamily("node_processes_pids", "Number of PIDs", value=pids)
