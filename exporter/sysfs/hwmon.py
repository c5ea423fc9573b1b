"""``/sys/class/hwmon``: hardware sensor chips, named and read as node_exporter 1.5 does."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_INVALID = re.compile(r"[^a-z0-9:_]")
_FILENAME = re.compile(r"^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$")
SENSOR_TYPES = frozenset(
    [
        "vrm", "beep_enable", "update_interval", "in", "cpu", "fan", "pwm", "temp", "curr",
        "power", "energy", "humidity", "intrusion",
    ]
)  # fmt: skip


def clean_name(text: str) -> str:
    """node_exporter's ``cleanMetricName``: lower case, ``[^a-z0-9:_]`` as ``_``, trimmed."""
    return _INVALID.sub("_", text.lower()).strip("_")


def split_filename(name: str) -> tuple[str, int, str] | None:
    """``temp1_crit_alarm`` as (``temp``, 1, ``crit_alarm``); None if it is no sensor file."""
    match = _FILENAME.match(name)
    if match is None:
        return None
    return match["type"], int(match["id"] or 0), match["property"] or ""


@dataclass
class Chip:
    """One chip: node_exporter's stable name, its ``name`` file's, and each sensor's files."""

    name: str
    human_name: str | None
    sensors: dict[str, dict[str, str]] = field(default_factory=dict)  # "temp1" -> prop -> text


def _chip_name(folder: Path) -> str:
    # The device's path first (stable and unique), then the name file, then hwmonN.
    device = folder / "device"
    if device.exists():
        real = Path(os.path.realpath(device))
        dev_name, dev_type = clean_name(real.name), clean_name(real.parent.name)
        if dev_name and dev_type:
            return f"{dev_type}_{dev_name}"
        if dev_name:
            return dev_name
    human = _human_name(folder)
    if human:
        return human
    return clean_name(Path(os.path.realpath(folder)).name)


def _human_name(folder: Path) -> str | None:
    try:
        raw = (folder / "name").read_text()
    except OSError:
        return None
    return clean_name(raw) or None


def _read_sensors(folder: Path, sensors: dict[str, dict[str, str]]) -> None:
    # os-level reads: a chip has dozens of files, read on every scrape.
    for name in sorted(os.listdir(folder)):  # noqa: PTH208
        parts = split_filename(name)
        if parts is None or parts[0] not in SENSOR_TYPES:
            continue
        try:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)  # noqa: PTH118
        except OSError:
            continue
        try:
            value = os.read(fd, 4096).decode("utf-8", "replace").strip("\n")
        except OSError:
            continue
        finally:
            os.close(fd)
        sensors.setdefault(f"{parts[0]}{parts[1]}", {})[parts[2]] = value


def hwmon_chips(sys: Path) -> list[Chip] | None:
    """Every chip in ``/sys/class/hwmon``; None where the class is absent."""
    folder = sys / "class" / "hwmon"
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        return None
    chips = []
    for entry in entries:
        if not entry.is_dir():
            continue
        chip = Chip(_chip_name(entry), _human_name(entry))
        _read_sensors(entry, chip.sensors)
        if (entry / "device").exists():
            _read_sensors(entry / "device", chip.sensors)
        chips.append(chip)
    return chips
