"""``/proc/loadavg``: the load averages and the number of threads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadAvg:
    """The 1, 5 and 15 minute load averages and the total of scheduling entities (threads)."""

    load1: float
    load5: float
    load15: float
    threads: int


def parse_loadavg(text: str) -> LoadAvg:
    """Parse /proc/loadavg (``0.10 0.20 0.30 1/234 5678``)."""
    parts = text.split()
    if len(parts) < 4 or "/" not in parts[3]:
        raise ValueError(f"not a /proc/loadavg file: {text.strip()!r}")
    return LoadAvg(float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3].split("/")[1]))
