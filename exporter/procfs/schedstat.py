"""``/proc/schedstat``: per-CPU running and waiting nanoseconds and timeslices."""

from __future__ import annotations

import re
from dataclasses import dataclass

# As procfs reads it: the 7th, 8th and 9th numbers of a cpuN line.
_CPU_LINE = re.compile(r"cpu(\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)")


@dataclass(frozen=True)
class SchedstatCpu:
    """One CPU's scheduler counters."""

    cpu: str
    running_ns: int
    waiting_ns: int
    timeslices: int


def parse_schedstat(text: str) -> list[SchedstatCpu]:
    """Parse /proc/schedstat (version 15 and later)."""
    cpus = []
    for line in text.splitlines():
        match = _CPU_LINE.match(line)
        if match:
            numbers = match.groups()
            cpus.append(SchedstatCpu(numbers[0], int(numbers[7]), int(numbers[8]), int(numbers[9])))
    return cpus
