"""node_exporter's entropy collector: the kernel's random pool, from ``/proc/sys/kernel/random``.

# HELP node_entropy_available_bits Bits of available entropy.
# TYPE node_entropy_available_bits gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.sysctl import parse_uint
from exporter.sysfs.files import read_text


class EntropyCollector(NodeCollector):
    """``node_entropy_available_bits`` and ``node_entropy_pool_size_bits``."""

    name = "entropy"

    def __init__(self) -> None:
        # The pool's size is fixed by the kernel (4096 bits, 256 since 5.18): read once.
        self._pool_size: int | None = None

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        random = proc.path / "sys" / "kernel" / "random"
        available = read_text(random / "entropy_avail")
        if available is None:
            return
        yield GaugeMetricFamily(
            "node_entropy_available_bits", "Bits of available entropy.", value=parse_uint(available)
        )
        if self._pool_size is None:
            pool_size = read_text(random / "poolsize")
            if pool_size is None:
                return
            self._pool_size = parse_uint(pool_size)
        yield GaugeMetricFamily(
            "node_entropy_pool_size_bits", "Bits of entropy pool.", value=self._pool_size
        )
