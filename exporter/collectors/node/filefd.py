"""node_exporter's filefd collector: open file handles and their limit, from ``file-nr``.

# HELP node_filefd_allocated File descriptor statistics: allocated.
# TYPE node_filefd_allocated gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.sysctl import parse_file_nr
from exporter.sysfs.files import read_text


class FilefdCollector(NodeCollector):
    """``node_filefd_allocated`` and ``node_filefd_maximum`` (``fs.file-max``)."""

    name = "filefd"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        text = read_text(proc.path / "sys" / "fs" / "file-nr")
        if text is None:
            return
        file_nr = parse_file_nr(text)
        yield GaugeMetricFamily(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            value=file_nr.allocated,
        )
        yield GaugeMetricFamily(
            "node_filefd_maximum", "File descriptor statistics: maximum.", value=file_nr.maximum
        )
