"""``/sys/class/net/<iface>/``: each network device's attributes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    rx_nohandler: int | None = None  # statistics/rx_nohandler, which netdev exports


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
        # Devices are symlinks (d_type says so without a stat); bonding_masters is a file.
        names = sorted(e.name for e in os.scandir(path) if not e.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return {}
    out = {}
    for name in names:
        iface = read_iface(path / name, name)
        if iface is not None:
            out[name] = iface
    return out


def read_iface(path: Path, name: str) -> NetClassIface | None:
    """One device's attributes; None if it vanished since the directory was listed.

    Files are opened relative to the device's directory: a scrape reads some twenty per
    device, and resolving the whole path through sysfs each time costs more than the read.
    """
    try:
        directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        text: dict[str, str] = {}
        for attribute in TEXT_ATTRIBUTES:
            raw = read_attribute(attribute, directory)
            if raw is not None:
                text[attribute] = raw.strip()
        ints: dict[str, int] = {}
        for attribute in INT_ATTRIBUTES:
            raw = read_attribute(attribute, directory)
            number = None if raw is None else parse_int(raw)
            if number is not None:
                ints[attribute] = number
        nohandler = read_attribute("statistics/rx_nohandler", directory)
    finally:
        os.close(directory)
    return NetClassIface(name, text, ints, None if nohandler is None else parse_int(nohandler))


def read_attribute(name: str, directory: int) -> str | None:
    """A sysfs attribute's text (at most a page, so one read), None if the kernel refuses it."""
    try:
        fd = os.open(name, os.O_RDONLY, dir_fd=directory)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)
