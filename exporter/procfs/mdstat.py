"""``/proc/mdstat``: software RAID arrays, parsed as prometheus/procfs parses them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_STATUS = re.compile(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]")
_SYNCED = re.compile(r"\((\d+)/\d+\)")


@dataclass(frozen=True)
class MdStat:
    """One array: activity state, disk counts and blocks (synced: done so far of a sync)."""

    name: str
    state: str
    disks_active: int
    disks_failed: int
    disks_spare: int
    disks_total: int
    blocks_total: int
    blocks_synced: int


def _status(device_line: str, status_line: str) -> tuple[int, int, int]:
    """Active disks, total disks, size in blocks."""
    fields = status_line.split()
    if not fields or not fields[0].isdigit():
        raise ValueError(f"not a /proc/mdstat file: unexpected status line {status_line!r}")
    size = int(fields[0])
    if "raid0" in device_line or "linear" in device_line:
        total = device_line.count("[")
        return total, total, size
    if "inactive" in device_line:
        return 0, 0, size
    match = _STATUS.search(status_line)
    if match is None:
        raise ValueError(f"not a /proc/mdstat file: unexpected status line {status_line!r}")
    return int(match[3]), int(match[2]), size


def parse_mdstat(text: str) -> list[MdStat]:
    """Parse /proc/mdstat."""
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip() or line[0] == " " or line.startswith(("Personalities", "unused")):
            continue
        fields = line.split()
        if len(fields) < 3 or len(lines) <= i + 3:
            raise ValueError(f"not a /proc/mdstat file: unexpected line {line!r}")
        state = fields[2]
        active, total, size = _status(line, lines[i + 1])
        sync_line = lines[i + 3] if "bitmap" in lines[i + 2] else lines[i + 2]
        synced = size
        kinds = [k for k in ("recovery", "check", "resync") if k in sync_line]
        if kinds:
            state = {"recovery": "recovering", "check": "checking", "resync": "resyncing"}[kinds[0]]
            if "PENDING" in sync_line or "DELAYED" in sync_line:
                synced = 0
            else:
                match = _SYNCED.search(sync_line)
                if match is None:
                    raise ValueError(f"not a /proc/mdstat file: unexpected line {sync_line!r}")
                synced = int(match[1])
        out.append(
            MdStat(
                fields[0],
                state,
                active,
                line.count("(F)"),
                line.count("(S)"),
                total,
                size,
                synced,
            )
        )
    return out
