"""``os-release(5)``: shell-style ``KEY=value`` assignments, values possibly quoted."""

from __future__ import annotations

import re
import shlex

# node_exporter's node_os_version: the major.minor part of VERSION_ID.
_MAJOR_MINOR = re.compile(r"^[0-9]+\.?[0-9]*")


def parse_os_release(text: str) -> dict[str, str]:
    """The assignments of an os-release file, quotes and backslash escapes undone."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            continue
        try:
            words = shlex.split(value, comments=True)
        except ValueError:
            words = [value]
        out[key] = " ".join(words)
    return out


def version_number(version_id: str) -> float:
    """``12`` → 12, ``22.04`` → 22.04, ``3.18.4`` → 3.18; none → 0, as node_exporter."""
    match = _MAJOR_MINOR.match(version_id)
    return float(match.group().rstrip(".")) if match else 0.0
