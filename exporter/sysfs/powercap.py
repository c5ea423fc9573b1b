"""``/sys/class/powercap``: RAPL energy zones (package, core, uncore, dram, psys)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporter.sysfs.files import read_attribute


@dataclass(frozen=True)
class RaplZone:
    """A zone: its name without index (``package``), index, folder and energy counter (µJ)."""

    name: str
    index: int
    path: Path
    microjoules: int


def _index_and_name(used: dict[str, int], name: str) -> tuple[int, str]:
    # "package-0" carries its index; "dram" twice is counted, as procfs does.
    parts = name.split("-")
    if len(parts) == 2 and parts[1].lstrip("+-").isdigit():
        return int(parts[1]), parts[0]
    return used.get(name, 0), name


def rapl_zones(sys: Path) -> list[RaplZone] | None:
    """Every folder with a ``name`` file, in name order; None where there is no powercap."""
    folder = sys / "class" / "powercap"
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        return None
    zones = []
    used: dict[str, int] = {}
    for entry in entries:
        try:
            raw = read_attribute(entry / "name")
        except OSError:
            continue
        index, name = _index_and_name(used, raw)
        int(read_attribute(entry / "max_energy_range_uj"))  # procfs requires it
        zones.append(RaplZone(name, index, entry, int(read_attribute(entry / "energy_uj"))))
        used[name] = index + 1
    return zones
