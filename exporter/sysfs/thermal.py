"""``/sys/class/thermal``: thermal zones and cooling devices."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from exporter.sysfs.files import read_attribute


@dataclass(frozen=True)
class ThermalZone:
    """A ``thermal_zoneN``: its number, type and temperature in millidegrees Celsius."""

    name: str
    type: str
    temp: int


@dataclass(frozen=True)
class CoolingDevice:
    """A ``cooling_deviceN``: its number, type and throttle states (cur may be -1)."""

    name: str
    type: str
    cur_state: int
    max_state: int


def _numbered(sys: Path, prefix: str) -> list[Path]:
    folder = sys / "class" / "thermal"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.removeprefix(prefix)[:1].isdigit()]
    return sorted((p for p in found if p.name.startswith(prefix)), key=lambda p: p.name)


def thermal_zones(sys: Path) -> list[ThermalZone]:
    """Each zone with its temperature; one that has no data right now (ENODATA) is left out."""
    zones = []
    for zone in _numbered(sys, "thermal_zone"):
        try:
            kind = read_attribute(zone / "type")
            read_attribute(zone / "policy")  # required by procfs, as the zone's sign of life
            temp = int(read_attribute(zone / "temp"))
        except OSError as exc:
            if exc.errno == errno.ENODATA:
                continue
            raise
        zones.append(ThermalZone(zone.name.removeprefix("thermal_zone"), kind, temp))
    return zones


def cooling_devices(sys: Path) -> list[CoolingDevice]:
    """Each cooling device with its current and maximum state."""
    return [
        CoolingDevice(
            device.name.removeprefix("cooling_device"),
            read_attribute(device / "type"),
            int(read_attribute(device / "cur_state")),
            int(read_attribute(device / "max_state")),
        )
        for device in _numbered(sys, "cooling_device")
    ]
