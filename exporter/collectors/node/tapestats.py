"""node_exporter's tapestats collector: SCSI tape drive I/O, when present.

# HELP node_tape_io_now The number of I/Os currently outstanding to this device.
# TYPE node_tape_io_now gauge
# HELP node_tape_read_bytes_total The number of bytes read from the tape drive.
# TYPE node_tape_read_bytes_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.scsi_tape import tapes

# stats file -> (metric, divisor, help), node_exporter's words.
COUNTERS = {
    "io_ns": (
        "io_time_seconds",
        1e9,
        "The amount of time spent waiting for all I/O to complete (including read and write). "
        "This includes tape movement commands such as seeking between file or set marks and "
        "implicit tape movement such as when rewind on close tape devices are used.",
    ),
    "other_cnt": (
        "io_others",
        1.0,
        "The number of I/Os issued to the tape drive other than read or write commands. The "
        "time taken to complete these commands uses the following calculation "
        "io_time_seconds_total-read_time_seconds_total-write_time_seconds_total",
    ),
    "read_byte_cnt": ("read_bytes", 1.0, "The number of bytes read from the tape drive."),
    "read_cnt": ("reads_completed", 1.0, "The number of read requests issued to the tape drive."),
    "read_ns": (
        "read_time_seconds",
        1e9,
        "The amount of time spent waiting for read requests to complete.",
    ),
    "resid_cnt": (
        "residual",
        1.0,
        "The number of times during a read or write we found the residual amount to be "
        "non-zero. This should mean that a program is issuing a read larger thean the block "
        "size on tape. For write not all data made it to tape.",
    ),
    "write_byte_cnt": ("written_bytes", 1.0, "The number of bytes written to the tape drive."),
    "write_cnt": (
        "writes_completed",
        1.0,
        "The number of write requests issued to the tape drive.",
    ),
    "write_ns": (
        "write_time_seconds",
        1e9,
        "The amount of time spent waiting for write requests to complete.",
    ),
}


class TapestatsCollector(NodeCollector):
    """``node_tape_*{device}`` from ``/sys/class/scsi_tape/st*/stats``."""

    name = "tapestats"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        drives = tapes(proc.path.parent / "sys")
        if not drives:
            return
        now = GaugeMetricFamily(
            "node_tape_io_now",
            "The number of I/Os currently outstanding to this device.",
            labels=["device"],
        )
        counters = {
            key: CounterMetricFamily(f"node_tape_{name}", doc, labels=["device"])
            for key, (name, _, doc) in COUNTERS.items()
        }
        for drive in drives:
            now.add_metric([drive.name], float(drive.counters.get("in_flight", 0)))
            for key, family in counters.items():
                family.add_metric([drive.name], drive.counters.get(key, 0) / COUNTERS[key][1])
        yield now
        yield from counters.values()
