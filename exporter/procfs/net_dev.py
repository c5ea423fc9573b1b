"""``/proc/net/dev``: each network device's traffic counters, under node_exporter's names."""

from __future__ import annotations

# The 16 columns of /proc/net/dev, as node_exporter names them (node_network_<name>_total).
NET_DEV_FIELDS = (
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
)


def parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    """Parse /proc/net/dev: device -> field -> value (two header lines, then ``eth0: 1 2 ...``)."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines()[2:]:
        device, sep, rest = line.partition(":")
        values = rest.split()
        if not sep or len(values) != len(NET_DEV_FIELDS):
            raise ValueError(f"not a /proc/net/dev line: {line.strip()!r}")
        out[device.strip()] = dict(zip(NET_DEV_FIELDS, map(int, values), strict=True))
    return out
