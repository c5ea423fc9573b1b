"""``/proc/net/arp``: the ARP table, counted per device."""

from __future__ import annotations


def parse_arp(text: str) -> dict[str, int]:
    """Entries per device (the sixth column), in the order devices first appear."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        columns = line.split()
        if len(columns) in (0, 9):  # blank, or the header "IP address HW type Flags ..."
            continue
        if len(columns) != 6:
            raise ValueError(f"{len(columns)} columns in /proc/net/arp, 6 expected: {line!r}")
        out[columns[5]] = out.get(columns[5], 0) + 1
    return out
