"""node_exporter's cpu collector: seconds per CPU and mode, from ``/proc/stat``."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.stat import parse_stat


class CpuCollector(NodeCollector):
    """``node_cpu_seconds_total{cpu,mode}``: jiffies divided by the kernel's clock ticks."""

    name = "cpu"
    files = ("stat",)

    def __init__(self, clock_ticks: int) -> None:
        self.clock_ticks = clock_ticks

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        stat = proc.parsed("stat", parse_stat)
        cpu = CounterMetricFamily(
            "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", labels=["cpu", "mode"]
        )
        for times in stat.cpus:
            for mode, jiffies in times.modes.items():
                cpu.add_metric([times.cpu, mode], jiffies / self.clock_ticks)
        yield cpu
