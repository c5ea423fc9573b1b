"""node_exporter's os collector: the distribution from ``os-release(5)``.

# HELP node_os_info A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.
# TYPE node_os_info gauge
# HELP node_os_version Metric containing the major.minor part of the OS version.
# TYPE node_os_version gauge
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.os_release import parse_os_release, version_number
from exporter.sysfs.files import read_text

INFO_LABELS = (
    "build_id",
    "id",
    "id_like",
    "image_id",
    "image_version",
    "name",
    "pretty_name",
    "variant",
    "variant_id",
    "version",
    "version_codename",
    "version_id",
)
# /etc/os-release first, then the vendor's copy, as os-release(5) says.
PATHS = (Path("etc/os-release"), Path("usr/lib/os-release"))


class OsCollector(NodeCollector):
    """``node_os_info`` (value 1) and ``node_os_version`` (VERSION_ID's major.minor)."""

    name = "os"

    def __init__(self, rootfs: Path) -> None:
        self.paths = tuple(rootfs / path for path in PATHS)
        self._cached: tuple[tuple[Path, int, int], dict[str, str]] | None = None

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        release = self.release()
        if release is None:
            return
        info = GaugeMetricFamily(
            "node_os_info",
            "A metric with a constant '1' value labeled by " + ", ".join(INFO_LABELS) + ".",
            labels=list(INFO_LABELS),
        )
        info.add_metric([release.get(label.upper(), "") for label in INFO_LABELS], 1.0)
        yield info
        version = GaugeMetricFamily(
            "node_os_version",
            "Metric containing the major.minor part of the OS version.",
            labels=["id", "id_like", "name"],
        )
        version.add_metric(
            [release.get("ID", ""), release.get("ID_LIKE", ""), release.get("NAME", "")],
            version_number(release.get("VERSION_ID", "")),
        )
        yield version

    def release(self) -> dict[str, str] | None:
        """The parsed file, parsed again only when it changed (as node_exporter caches it)."""
        for path in self.paths:
            try:
                stat = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                continue
            key = (path, stat.st_mtime_ns, stat.st_size)
            if self._cached is None or self._cached[0] != key:
                text = read_text(path)
                if text is None:
                    continue
                self._cached = (key, parse_os_release(text))
            return self._cached[1]
        return None
