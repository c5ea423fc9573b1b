"""``/proc/net/sockstat`` and ``sockstat6``: sockets in use per protocol."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sockstat:
    """``sockets: used N`` (IPv4 only) and each protocol's ``key value`` pairs, in file order."""

    used: int | None = None
    protocols: dict[str, dict[str, int]] = field(default_factory=dict)


def parse_sockstat(text: str) -> Sockstat:
    """Parse /proc/net/sockstat or sockstat6 (``TCP: inuse 1 orphan 0 tw 55 alloc 1 mem 0``)."""
    used = None
    protocols: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 3 or len(fields) % 2 == 0:
            raise ValueError(f"malformed sockstat line: {line!r}")
        pairs = {key: int(value) for key, value in zip(fields[1::2], fields[2::2], strict=True)}
        protocol = fields[0].rstrip(":")
        if protocol == "sockets":
            used = pairs.get("used", 0)
        else:
            protocols[protocol] = pairs
    return Sockstat(used, protocols)
