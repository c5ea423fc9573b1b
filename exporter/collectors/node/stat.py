"""node_exporter's stat collector: boot time, context switches, interrupts, forks, processes."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.stat import parse_stat


class StatCollector(NodeCollector):
    """The kernel-wide counters and process states of ``/proc/stat``."""

    name = "stat"
    files = ("stat",)

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        stat = proc.parsed("stat", parse_stat)
        yield GaugeMetricFamily(
            "node_boot_time_seconds", "Node boot time, in unixtime.", value=stat.boot_time
        )
        yield CounterMetricFamily(
            "node_context_switches_total",
            "Total number of context switches.",
            value=stat.context_switches,
        )
        yield CounterMetricFamily(
            "node_intr_total", "Total number of interrupts serviced.", value=stat.interrupts
        )
        yield CounterMetricFamily("node_forks_total", "Total number of forks.", value=stat.forks)
        yield GaugeMetricFamily(
            "node_procs_running", "Number of processes in runnable state.", value=stat.procs_running
        )
        yield GaugeMetricFamily(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            value=stat.procs_blocked,
        )
