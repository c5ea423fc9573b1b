"""``/proc/net/netstat``, ``/proc/net/snmp`` and ``/proc/net/snmp6``: protocol statistics."""

from __future__ import annotations


def parse_netstat(text: str) -> dict[str, float]:
    """Parse /proc/net/netstat or /proc/net/snmp: ``Protocol_Field`` -> value.

    Each protocol is a pair of lines, ``Tcp: RtoAlgorithm RtoMin ...`` and ``Tcp: 1 200 ...``.
    """
    out: dict[str, float] = {}
    lines = text.splitlines()
    for names_line, values_line in zip(lines[::2], lines[1::2], strict=False):
        names, values = names_line.split(), values_line.split()
        if not names or len(names) != len(values) or names[0] != values[0]:
            raise ValueError(f"field count mismatch for {names[:1]!r} in {names_line[:40]!r}")
        protocol = names[0].rstrip(":")
        for name, value in zip(names[1:], values[1:], strict=True):
            out[f"{protocol}_{name}"] = float(value)
    return out


def parse_snmp6(text: str) -> dict[str, float]:
    """Parse /proc/net/snmp6 (``Udp6InDatagrams  12``): ``Udp6_InDatagrams`` -> value.

    The protocol is the name up to its first ``6``, as node_exporter splits it.
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        six = parts[0].find("6")
        if six < 0:
            continue
        out[f"{parts[0][: six + 1]}_{parts[0][six + 1 :]}"] = float(parts[1])
    return out
