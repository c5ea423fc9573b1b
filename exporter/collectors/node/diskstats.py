"""node_exporter's diskstats collector: block device I/O from ``/proc/diskstats`` and udev.

# HELP node_disk_io_time_seconds_total Total seconds spent doing I/Os.
# TYPE node_disk_io_time_seconds_total counter
# HELP node_disk_info Info of /sys/block/<block_device>.
# TYPE node_disk_info gauge
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.diskstats import parse_diskstats, parse_udev_properties
from exporter.sysfs.files import read_text

# node_exporter 1.5's --collector.diskstats.device-exclude default: partitions, ram, loop, fd.
DEVICE_EXCLUDE = re.compile(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")

_SECTOR_BYTES = 512.0  # diskstats counts 512-byte sectors whatever the device's block size
_TICK_SECONDS = 0.001  # and milliseconds

# (name, help, type, scale), in the order of the counters on a diskstats line.
FIELDS: tuple[tuple[str, str, str, float], ...] = (
    ("reads_completed_total", "The total number of reads completed successfully.", "c", 1),
    ("reads_merged_total", "The total number of reads merged.", "c", 1),
    ("read_bytes_total", "The total number of bytes read successfully.", "c", _SECTOR_BYTES),
    (
        "read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        "c",
        _TICK_SECONDS,
    ),
    ("writes_completed_total", "The total number of writes completed successfully.", "c", 1),
    ("writes_merged_total", "The number of writes merged.", "c", 1),
    ("written_bytes_total", "The total number of bytes written successfully.", "c", _SECTOR_BYTES),
    (
        "write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        "c",
        _TICK_SECONDS,
    ),
    ("io_now", "The number of I/Os currently in progress.", "g", 1),
    ("io_time_seconds_total", "Total seconds spent doing I/Os.", "c", _TICK_SECONDS),
    (
        "io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        "c",
        _TICK_SECONDS,
    ),
    ("discards_completed_total", "The total number of discards completed successfully.", "c", 1),
    ("discards_merged_total", "The total number of discards merged.", "c", 1),
    ("discarded_sectors_total", "The total number of sectors discarded successfully.", "c", 1),
    (
        "discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        "c",
        _TICK_SECONDS,
    ),
    ("flush_requests_total", "The total number of flush requests completed successfully", "c", 1),
    (
        "flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        "c",
        _TICK_SECONDS,
    ),
)

INFO_LABELS = ["device", "major", "minor", "path", "wwn", "model", "serial", "revision"]
# udev property → node_disk_ata_* family and help.
ATA = {
    "ID_ATA_WRITE_CACHE": ("ata_write_cache", "ATA disk has a write cache."),
    "ID_ATA_WRITE_CACHE_ENABLED": (
        "ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    "ID_ATA_ROTATION_RATE_RPM": (
        "ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
}


class DiskstatsCollector(NodeCollector):
    """``node_disk_*{device}`` per device node_exporter does not exclude, and ``node_disk_info``."""

    name = "diskstats"

    def __init__(self, rootfs: Path) -> None:
        self.udev = rootfs / "run" / "udev" / "data"
        self._udev_present: bool | None = None

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        text = read_text(proc.path / "diskstats")
        if text is None:
            return
        info = GaugeMetricFamily(
            "node_disk_info", "Info of /sys/block/<block_device>.", labels=INFO_LABELS
        )
        families = [
            (CounterMetricFamily if kind == "c" else GaugeMetricFamily)(
                f"node_disk_{name}", help_text, labels=["device"]
            )
            for name, help_text, kind, _ in FIELDS
        ]
        filesystem = GaugeMetricFamily(
            "node_disk_filesystem_info",
            "Info about disk filesystem.",
            labels=["device", "type", "usage", "uuid", "version"],
        )
        mapper = GaugeMetricFamily(
            "node_disk_device_mapper_info",
            "Info about disk device mapper.",
            labels=["device", "name", "uuid", "vg_name", "lv_name", "lv_layer"],
        )
        ata = {
            key: GaugeMetricFamily(f"node_disk_{name}", help_text, labels=["device"])
            for key, (name, help_text) in ATA.items()
        }
        for disk in parse_diskstats(text, DEVICE_EXCLUDE):
            dev = disk.device
            udev = self.properties(disk.major, disk.minor)
            info.add_metric(
                [dev, str(disk.major), str(disk.minor)]
                + [udev.get(key, "") for key in ("ID_PATH", "ID_WWN", "ID_MODEL")]
                + [udev.get("ID_SERIAL_SHORT", ""), udev.get("ID_REVISION", "")],
                1.0,
            )
            for family, (_, _, _, scale), value in zip(
                families, FIELDS, disk.counters, strict=False
            ):
                family.add_metric([dev], value * scale)
            if udev.get("ID_FS_TYPE"):
                filesystem.add_metric(
                    [dev]
                    + [
                        udev.get(f"ID_FS_{key}", "") for key in ("TYPE", "USAGE", "UUID", "VERSION")
                    ],
                    1.0,
                )
            if udev.get("DM_NAME"):
                mapper.add_metric(
                    [dev]
                    + [udev.get(f"DM_{key}", "") for key in ("NAME", "UUID", "VG_NAME")]
                    + [udev.get("DM_LV_NAME", ""), udev.get("DM_LV_LAYER", "")],
                    1.0,
                )
            if udev.get("ID_ATA"):
                for key, family in ata.items():
                    number = _number(udev.get(key))
                    if number is not None:
                        family.add_metric([dev], number)
        # A family no device has (discards before 4.18, flush before 5.5) is not exposed.
        for family in (info, *families, filesystem, mapper, *ata.values()):
            if family.samples:
                yield family

    def properties(self, major: int, minor: int) -> dict[str, str]:
        if self._udev_present is None:
            # As node_exporter: without udev's database (a container without /run/udev
            # mounted) no device is looked up, and that is decided once.
            self._udev_present = self.udev.is_dir()
        if not self._udev_present:
            return {}
        # As node_exporter: a device without readable udev data gets empty info labels.
        try:
            text = read_text(self.udev / f"b{major}:{minor}")
        except PermissionError:
            return {}
        return parse_udev_properties(text) if text is not None else {}


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
