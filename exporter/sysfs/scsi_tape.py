"""``/sys/class/scsi_tape``: the I/O statistics of SCSI tape drives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from exporter.sysfs.files import read_attribute

# st0 is the drive; nst0, st0a, st0l, st0m are other modes of the same drive.
_DRIVE = re.compile(r"st[0-9]+")


@dataclass(frozen=True)
class Tape:
    """A drive's ``stats`` counters by file name (``read_cnt``, ``io_ns``...)."""

    name: str
    counters: dict[str, int]


def tapes(sys: Path) -> list[Tape] | None:
    """Every drive in name order; None where the class is absent."""
    folder = sys / "class" / "scsi_tape"
    try:
        names = sorted(p.name for p in folder.iterdir() if _DRIVE.fullmatch(p.name))
    except FileNotFoundError:
        return None
    out = []
    for name in names:
        stats = folder / name / "stats"
        counters = {f.name: int(read_attribute(f)) for f in sorted(stats.iterdir())}
        out.append(Tape(name, counters))
    return out
