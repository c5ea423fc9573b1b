"""``/proc/meminfo``: memory fields under node_exporter's metric suffixes."""

from __future__ import annotations

import re

_MEMINFO_KEY = re.compile(r"[()]")


def parse_meminfo(text: str) -> dict[str, float]:
    """Parse /proc/meminfo into node_exporter's metric suffixes and values in bytes.

    ``Active(anon):  12 kB`` becomes ``Active_anon_bytes: 12288``; unitless counts such as
    ``HugePages_Total`` keep their name.
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts:
            continue
        name = _MEMINFO_KEY.sub("_", key.strip()).rstrip("_").replace("__", "_")
        value = float(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            out[f"{name}_bytes"] = value * 1024
        else:
            out[name] = value
    if "MemTotal_bytes" not in out:
        raise ValueError("not a /proc/meminfo file: no MemTotal")
    return out
