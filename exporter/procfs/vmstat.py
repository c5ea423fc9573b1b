"""``/proc/vmstat``: the kernel's virtual memory counters, one ``name value`` per line."""

from __future__ import annotations

import re


def parse_vmstat(text: str, fields: re.Pattern[str] | None = None) -> dict[str, float]:
    """Parse /proc/vmstat into field name and value, only the ``fields`` matching if given."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if value and (fields is None or fields.match(name)):
            out[name] = float(value)
    if not out and fields is None:
        raise ValueError("not a /proc/vmstat file: no fields")
    return out
