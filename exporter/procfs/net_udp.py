"""``/proc/net/udp`` and ``udp6``: the memory queued in UDP sockets, summed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UdpQueues:
    """Bytes allocated to all UDP sockets' send (tx) and receive (rx) queues."""

    tx: int
    rx: int


def parse_udp_queues(text: str) -> UdpQueues:
    """Sum the ``tx_queue:rx_queue`` column (hex) over the sockets after the header line."""
    tx = rx = 0
    for line in text.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 10 or ":" not in fields[4]:
            raise ValueError(f"not a /proc/net/udp line: {line.strip()!r}")
        tx_queue, _, rx_queue = fields[4].partition(":")
        tx += int(tx_queue, 16)
        rx += int(rx_queue, 16)
    return UdpQueues(tx, rx)
