"""``/proc/net/softnet_stat``: per-CPU packet processing counters, one line per CPU in hex."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SoftnetStat:
    """The first three columns: packets processed, dropped, and times the budget ran out."""

    processed: int
    dropped: int
    times_squeezed: int


def parse_softnet(text: str) -> list[SoftnetStat]:
    """Parse /proc/net/softnet_stat; line i is CPU i, as node_exporter numbers them."""
    out = []
    for line in text.splitlines():
        columns = line.split()
        if len(columns) < 9:
            raise ValueError(f"{len(columns)} columns in softnet_stat, at least 9 expected")
        out.append(SoftnetStat(int(columns[0], 16), int(columns[1], 16), int(columns[2], 16)))
    return out
