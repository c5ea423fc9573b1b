"""``/sys/devices/system/edac/mc``: memory controllers' ECC error counts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from exporter.sysfs.files import read_attribute


@dataclass(frozen=True)
class MemoryController:
    """A controller's correctable and uncorrectable counts, those without a csrow, and rows'."""

    number: str
    ce: int
    ce_noinfo: int
    ue: int
    ue_noinfo: int
    csrows: dict[str, tuple[int, int]] = field(default_factory=dict)  # number -> (ce, ue)


def _numbered(folder: Path, prefix: str) -> list[tuple[str, Path]]:
    """``<prefix>N`` entries (node_exporter's ``<prefix>[0-9]*``) with their numbers."""
    found = []
    for entry in folder.iterdir():
        rest = entry.name.removeprefix(prefix)
        if rest != entry.name and rest[:1].isdigit():
            found.append((re.match(r"[0-9]*", rest)[0], entry))  # type: ignore[index]
    return sorted(found, key=lambda item: item[1].name)


def memory_controllers(sys: Path) -> list[MemoryController]:
    """Every ``mcN`` with its ``csrowN``; none where EDAC is not loaded."""
    folder = sys / "devices" / "system" / "edac" / "mc"
    if not folder.is_dir():
        return []
    out = []
    for number, controller in _numbered(folder, "mc"):
        rows = {
            row: (int(read_attribute(path / "ce_count")), int(read_attribute(path / "ue_count")))
            for row, path in _numbered(controller, "csrow")
        }
        out.append(
            MemoryController(
                number,
                int(read_attribute(controller / "ce_count")),
                int(read_attribute(controller / "ce_noinfo_count")),
                int(read_attribute(controller / "ue_count")),
                int(read_attribute(controller / "ue_noinfo_count")),
                rows,
            )
        )
    return out
