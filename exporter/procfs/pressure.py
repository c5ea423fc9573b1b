"""``/proc/pressure/<resource>``: pressure stall information, ``some`` and ``full`` lines."""

from __future__ import annotations


def parse_pressure(text: str) -> dict[str, int]:
    """The ``total=`` microseconds of each line, by its kind (``some``, ``full``)."""
    totals: dict[str, int] = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        for field in fields:
            key, _, value = field.partition("=")
            if key == "total":
                totals[kind] = int(value)
    if not totals:
        raise ValueError("not a /proc/pressure file: no total=")
    return totals
