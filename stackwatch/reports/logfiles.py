"""Remove rotated log files older than the retention from the configured folders.

Only files that a log rotator has already set aside are candidates (``app.log.1``,
``app.log.2.gz``, ``app-20261101.log``, ``*.old``): a live ``*.log`` is never touched, however
old, since a process may still hold it open. Symlinks are neither followed nor removed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ROTATED = re.compile(
    r"(\.(gz|xz|bz2|zst|lz4|zip|old|bak)"  # compressed or set aside
    r"|\.\d+"  # app.log.1, syslog.2
    r"|[-_.]\d{8}(\d{2,6})?(\.log|\.txt)?"  # app-20261101, app.log-2026110112, app-20261101.log
    r")$"
)


@dataclass
class LogCleanupResult:
    removed: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)


def is_rotated(name: str) -> bool:
    return bool(ROTATED.search(name))


def remove_old_logs(
    folders: list[Path], *, retention: float, now: float, dry_run: bool = False
) -> LogCleanupResult:
    """Delete (or, in a dry run, list) rotated files last modified before ``now - retention``."""
    result = LogCleanupResult()
    cutoff = now - retention
    for folder in folders:
        if not folder.is_dir():
            result.errors.append(f"{folder}: not a folder")
            continue
        for root, dirs, files in os.walk(folder, followlinks=False, onerror=None):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                try:
                    st = path.lstat()
                except OSError:
                    continue
                if not path.is_file() or path.is_symlink() or not is_rotated(name):
                    continue
                if st.st_mtime >= cutoff:
                    continue
                if not dry_run:
                    try:
                        path.unlink()
                    except OSError as exc:
                        result.errors.append(f"{path}: {exc.strerror}")
                        continue
                result.removed.append(path)
                result.bytes_freed += st.st_size
    return result
