"""node_exporter's dmi collector: the machine's firmware description as an info gauge.

# HELP node_dmi_info A metric with a constant '1' value labeled by bios_date, ... by DMI.
# TYPE node_dmi_info gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.dmi import LABELS, dmi_labels

HELP = (
    "A metric with a constant '1' value labeled by "
    + ", ".join(sorted(LABELS.values()))
    + " if provided by DMI."
)


class DmiCollector(NodeCollector):
    """``node_dmi_info`` from ``/sys/class/dmi/id``, read once: it changes only with a reboot."""

    name = "dmi"

    def __init__(self) -> None:
        self._labels: dict[str, str] | None = None
        self._read = False

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        if not self._read:
            self._labels = dmi_labels(proc.path.parent / "sys")
            self._read = True
        if self._labels is None:
            return
        info = GaugeMetricFamily("node_dmi_info", HELP, labels=list(self._labels))
        info.add_metric(list(self._labels.values()), 1.0)
        yield info
