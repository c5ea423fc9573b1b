"""node_exporter's schedstat collector: per-CPU scheduler time from ``/proc/schedstat``.

# HELP node_schedstat_running_seconds_total Number of seconds CPU spent running a process.
# TYPE node_schedstat_running_seconds_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.collectors.node.optional import KernelFeatureFiles
from exporter.procfs.schedstat import parse_schedstat


class SchedstatCollector(NodeCollector):
    """Running and waiting seconds and timeslices per CPU (kernels with CONFIG_SCHEDSTATS)."""

    name = "schedstat"

    def __init__(self) -> None:
        self.kernel_files = KernelFeatureFiles()

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        text = self.kernel_files.read(proc.path / "schedstat")
        if text is None:
            return
        running = CounterMetricFamily(
            "node_schedstat_running_seconds_total",
            "Number of seconds CPU spent running a process.",
            labels=["cpu"],
        )
        waiting = CounterMetricFamily(
            "node_schedstat_waiting_seconds_total",
            "Number of seconds spent by processing waiting for this CPU.",
            labels=["cpu"],
        )
        timeslices = CounterMetricFamily(
            "node_schedstat_timeslices_total",
            "Number of timeslices executed by CPU.",
            labels=["cpu"],
        )
        for cpu in parse_schedstat(text):
            running.add_metric([cpu.cpu], cpu.running_ns / 1e9)
            waiting.add_metric([cpu.cpu], cpu.waiting_ns / 1e9)
            timeslices.add_metric([cpu.cpu], cpu.timeslices)
        yield running
        yield waiting
        yield timeslices
