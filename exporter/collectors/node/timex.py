"""node_exporter's timex collector: the kernel clock's NTP state, read with ``adjtimex(2)``.

# HELP node_timex_sync_status Is clock synchronized to a reliable server (1 = yes, 0 = no).
# TYPE node_timex_sync_status gauge
# HELP node_timex_offset_seconds Time offset in between local system and reference clock.
# TYPE node_timex_offset_seconds gauge
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.errors import ExporterError

TIME_ERROR = 5  # adjtimex's answer while the clock is not synchronised
STA_NANO = 0x2000  # offset and jitter in nanoseconds instead of microseconds
# freq, ppsfreq and stabil are parts per million with a 16-bit fraction.
PPM16FRAC = 1_000_000.0 * 65536.0


class Timex(ctypes.Structure):
    """Linux's ``struct timex`` (ctypes aligns the ints between the longs as the C ABI does)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def adjtimex() -> tuple[int, Timex]:
    """The clock state (``modes`` 0 only reads it) and adjtimex's return value."""
    timex = Timex()
    state = int(_libc().adjtimex(ctypes.byref(timex)))
    if state < 0:
        errno = ctypes.get_errno()
        raise ExporterError(f"adjtimex: {os.strerror(errno)}")
    return state, timex


def timex_values(state: int, timex: Timex) -> dict[str, float]:
    """node_exporter's timex values, in seconds and ratios, from adjtimex's answer."""
    divisor = 1e9 if timex.status & STA_NANO else 1e6
    return {
        "offset_seconds": timex.offset / divisor,
        "frequency_adjustment_ratio": 1 + timex.freq / PPM16FRAC,
        "maxerror_seconds": timex.maxerror / 1e6,
        "estimated_error_seconds": timex.esterror / 1e6,
        "status": timex.status,
        "loop_time_constant": timex.constant,
        "tick_seconds": timex.tick / 1e6,
        "pps_frequency_hertz": timex.ppsfreq / PPM16FRAC,
        "pps_jitter_seconds": timex.jitter / divisor,
        "pps_shift_seconds": timex.shift,
        "pps_stability_hertz": timex.stabil / PPM16FRAC,
        "pps_jitter_total": timex.jitcnt,
        "pps_calibration_total": timex.calcnt,
        "pps_error_total": timex.errcnt,
        "pps_stability_exceeded_total": timex.stbcnt,
        "tai_offset_seconds": timex.tai,
        "sync_status": 0.0 if state == TIME_ERROR else 1.0,
    }


HELP = {
    "offset_seconds": "Time offset in between local system and reference clock.",
    "frequency_adjustment_ratio": "Local clock frequency adjustment.",
    "maxerror_seconds": "Maximum error in seconds.",
    "estimated_error_seconds": "Estimated error in seconds.",
    "status": "Value of the status array bits.",
    "loop_time_constant": "Phase-locked loop time constant.",
    "tick_seconds": "Seconds between clock ticks.",
    "pps_frequency_hertz": "Pulse per second frequency.",
    "pps_jitter_seconds": "Pulse per second jitter.",
    "pps_shift_seconds": "Pulse per second interval duration.",
    "pps_stability_hertz": "Pulse per second stability, average of recent frequency changes.",
    "pps_jitter_total": "Pulse per second count of jitter limit exceeded events.",
    "pps_calibration_total": "Pulse per second count of calibration intervals.",
    "pps_error_total": "Pulse per second count of calibration errors.",
    "pps_stability_exceeded_total": "Pulse per second count of stability limit exceeded events.",
    "tai_offset_seconds": "International Atomic Time (TAI) offset.",
    "sync_status": "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
}


class TimexCollector(NodeCollector):
    """``node_timex_*``: the kernel's clock, the same inside a container as on the host."""

    name = "timex"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        state, timex = adjtimex()
        for key, value in timex_values(state, timex).items():
            name, help_text = f"node_timex_{key}", HELP[key]
            if key.endswith("_total"):
                yield CounterMetricFamily(name, help_text, value=value)
            else:
                yield GaugeMetricFamily(name, help_text, value=value)
