"""``/proc/diskstats`` and udev's ``/run/udev/data/b<major>:<minor>`` device properties."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class DiskStats:
    """One device's line: its numbers and the counters after them (11, 15 or 17 by kernel)."""

    major: int
    minor: int
    device: str
    counters: tuple[int, ...]


def parse_diskstats(text: str, exclude: re.Pattern[str] | None = None) -> list[DiskStats]:
    """Parse /proc/diskstats, skipping devices ``exclude`` matches (a host with snaps has dozens
    of loop devices); the counter count depends on the kernel (4.18 discards, 5.5 flush)."""
    disks: list[DiskStats] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or (exclude is not None and len(parts) > 2 and exclude.match(parts[2])):
            continue
        if len(parts) < 14:
            raise ValueError(f"not a /proc/diskstats line: {line.strip()!r}")
        counters = tuple(int(value) for value in parts[3:])
        disks.append(DiskStats(int(parts[0]), int(parts[1]), parts[2], counters))
    return disks


def parse_udev_properties(text: str) -> dict[str, str]:
    """The ``E:KEY=value`` device properties of a udev database file (see udevadm(8))."""
    properties: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("E:"):
            key, sep, value = line[2:].partition("=")
            if sep:
                properties[key] = value
    return properties
