"""``/sys/class/power_supply``: batteries, mains and USB supplies, as procfs reads them."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from exporter.sysfs.files import read_attribute

# Errors of an attribute that the supply's driver cannot answer now; procfs skips them.
_SKIPPED = (errno.ENOENT, errno.EOPNOTSUPP, errno.EINVAL)


@dataclass(frozen=True)
class PowerSupply:
    """One supply: its regular attribute files' values by file name."""

    name: str
    attributes: dict[str, str]


def power_supplies(sys: Path) -> list[PowerSupply] | None:
    """Every supply in name order; None where the class is absent."""
    folder = sys / "class" / "power_supply"
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        return None
    out = []
    for entry in entries:
        attributes = {}
        for item in sorted(entry.iterdir(), key=lambda p: p.name):
            if item.is_symlink() or not item.is_file():
                continue
            try:
                attributes[item.name] = read_attribute(item)
            except OSError as exc:
                if exc.errno in _SKIPPED:
                    continue
                raise
        out.append(PowerSupply(entry.name, attributes))
    return out
