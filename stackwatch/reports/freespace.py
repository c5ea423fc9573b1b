"""Free space per real filesystem for the cleanup report, read without hanging on any mount."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from stackwatch.config import Config
from stackwatch.filesystems import list_mounts
from stackwatch.mountstats import MountStats
from stackwatch.promql import PSEUDO_FS_TYPES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilesystemSpace:
    """One filesystem's size and free space; a hung one is listed as not responding."""

    mountpoint: str
    size_bytes: int
    free_bytes: int
    responding: bool = True


def filesystem_space(config: Config, stats: MountStats) -> list[FilesystemSpace]:
    """Size and space available per real filesystem, with the exporter's exclusions.

    The readings go through ``stats``, which gives up on a mount whose ``statvfs`` blocks for
    ``exporter.filesystem_mount_timeout`` (a hung NFS or FUSE mount) and skips it from then on.
    """
    exporter = config.exporter
    try:
        mounts = list_mounts(
            exporter.rootfs / "proc",
            re.compile(exporter.filesystem_mount_points_exclude),
            re.compile(exporter.filesystem_fs_types_exclude),
        )
    except FileNotFoundError as exc:
        log.warning(
            "cannot list filesystems: %s: no such file (is exporter.rootfs right?)", exc.filename
        )
        return []
    real = [mount for mount in mounts if mount.fstype not in PSEUDO_FS_TYPES]
    targets = {m.mountpoint: str(exporter.rootfs / m.mountpoint.lstrip("/")) for m in real}
    results = stats.stat_all(list(targets.values()))
    out = []
    for mountpoint, target in targets.items():
        st = results.get(target)
        if st is None:
            out.append(FilesystemSpace(mountpoint, 0, 0, responding=False))
        elif not isinstance(st, OSError):
            size, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
            out.append(FilesystemSpace(mountpoint, size, free))
    return out
