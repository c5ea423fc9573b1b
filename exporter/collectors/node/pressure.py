"""node_exporter's pressure collector: pressure stall information from ``/proc/pressure``.

# HELP node_pressure_memory_waiting_seconds_total Total time in seconds that processes have waited for memory
# TYPE node_pressure_memory_waiting_seconds_total counter
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.collectors.node.optional import KernelFeatureFiles
from exporter.procfs.pressure import parse_pressure

# (resource, line kind, family, help). cpu's "full" line (5.13+) is not exported, as in
# node_exporter; irq (6.1+, CONFIG_IRQ_TIME_ACCOUNTING) has only "full", under node_exporter
# 1.8's name.
FAMILIES = (
    (
        "cpu",
        "some",
        "node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time",
    ),
    (
        "io",
        "some",
        "node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion",
    ),
    (
        "io",
        "full",
        "node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    (
        "memory",
        "some",
        "node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory",
    ),
    (
        "memory",
        "full",
        "node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion",
    ),
    (
        "irq",
        "full",
        "node_pressure_irq_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IRQ congestion",
    ),
)


class PressureCollector(NodeCollector):
    """Seconds some (``waiting``) or all (``stalled``) tasks were stalled on a resource."""

    name = "pressure"

    def __init__(self) -> None:
        self.kernel_files = KernelFeatureFiles()

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        totals: dict[str, dict[str, int] | None] = {}
        for resource, kind, family, help_text in FAMILIES:
            if resource not in totals:
                text = self.kernel_files.read(proc.path / "pressure" / resource)
                totals[resource] = parse_pressure(text) if text is not None else None
            lines = totals[resource]
            if lines is not None and kind in lines:
                # Microseconds, divided as node_exporter does, so the floats are the same.
                yield CounterMetricFamily(family, help_text, value=lines[kind] / 1000.0 / 1000.0)
