"""``/sys/class/net/<iface>/``: each network device's attributes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from exporter.sysfs.files import read_text

# The text attributes of node_network_info.
TEXT_ATTRIBUTES = ("address", "broadcast", "duplex", "ifalias", "operstate")

# The integer attributes node_exporter reads, by sysfs file name.
INT_ATTRIBUTES = (
    "addr_assign_type",
    "carrier",
    "carrier_changes",
    "carrier_up_count",
    "carrier_down_count",
    "dev_id",
    "dormant",
    "flags",
    "ifindex",
    "iflink",
    "link_mode",
    "mtu",
    "name_assign_type",
    "netdev_group",
    "speed",
    "tx_queue_len",
    "type",
)


@dataclass(frozen=True)
class NetClassIface:
    """One device: the attributes it answered (a link that is down has no ``carrier``)."""

    name: str
    text: dict[str, str] = field(default_factory=dict)
    ints: dict[str, int] = field(default_factory=dict)


def parse_int(text: str) -> int | None:
    """An attribute's integer, decimal or ``0x`` hex (``flags``); None if it is not one."""
    value = text.strip()
    try:
        return int(value, 16) if value.startswith("0x") else int(value)
    except ValueError:
        return None


def read_net_class(path: Path) -> dict[str, NetClassIface]:
    """Every device under ``path`` (``/sys/class/net``), by name; {} if there is no such tree."""
    try:
        names = sorted(entry.name for entry in os.scandir(path) if not entry.is_file())
    except FileNotFoundError:
        return {}
    return {name: read_iface(path / name, name) for name in names}


def read_iface(path: Path, name: str) -> NetClassIface:
    base = f"{path}/"
    text: dict[str, str] = {}
    for attribute in TEXT_ATTRIBUTES:
        raw = read_text(base + attribute)
        if raw is not None:
            text[attribute] = raw.strip()
    ints: dict[str, int] = {}
    for attribute in INT_ATTRIBUTES:
        raw = read_text(base + attribute)
        number = None if raw is None else parse_int(raw)
        if number is not None:
            ints[attribute] = number
    return NetClassIface(name, text, ints)
