"""node_exporter's time collector: the system clock."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles


class TimeCollector(NodeCollector):
    """``node_time_seconds``, so clock drift between hosts shows."""

    name = "time"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "node_time_seconds", "System time in seconds since epoch (1970).", value=time.time()
        )
