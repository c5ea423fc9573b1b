"""node_exporter's processes collector, in part: the number of PIDs under ``/proc``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector


class ProcessesCollector(NodeCollector):
    """``node_processes_pids``; ``node_processes_threads`` comes with loadavg, whose file has it."""

    name = "processes"

    def __init__(self, proc: Path) -> None:
        self.proc = proc

    def collect(self) -> Iterator[Metric]:
        pids = sum(1 for entry in os.scandir(self.proc) if entry.name.isdigit())
        yield GaugeMetricFamily("node_processes_pids", "Number of PIDs", value=pids)
