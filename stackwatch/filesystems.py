"""The host's mounted filesystems, read from ``/proc`` under a configurable root.

The exporter's filesystem metrics and the weekly cleanup's free-space figures list the same
mounts, with node_exporter's exclusions, through this one function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> list[Mount]:
    """Parse /proc/mounts (fstab format)."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            mounts.append(
                Mount(
                    _unescape(parts[0]), _unescape(parts[1]), parts[2], tuple(parts[3].split(","))
                )
            )
    return mounts


def list_mounts(
    proc: Path, mount_points_exclude: re.Pattern[str], fs_types_exclude: re.Pattern[str]
) -> list[Mount]:
    """The mounts of ``proc`` (PID 1's view first) less the exclusions, one per mount point.

    Raises FileNotFoundError when ``proc`` has no mounts file.
    """
    path = proc / "1" / "mounts"
    if not path.exists():
        path = proc / "mounts"
    seen: set[str] = set()
    out = []
    for mount in parse_mounts(path.read_text(encoding="utf-8", errors="replace")):
        if (
            mount_points_exclude.search(mount.mountpoint)
            or fs_types_exclude.search(mount.fstype)
            or mount.mountpoint in seen
        ):
            continue
        seen.add(mount.mountpoint)
        out.append(mount)
    return out
