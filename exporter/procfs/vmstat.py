"""``/proc/vmstat``: the kernel's virtual memory counters, one ``name value`` per line."""

from __future__ import annotations


def parse_vmstat(text: str) -> dict[str, float]:
    """Parse /proc/vmstat into field name and value."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = float(parts[1])
    if not out:
        raise ValueError("not a /proc/vmstat file: no fields")
    return out
