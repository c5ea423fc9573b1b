"""Remove old log files from the configured folders, and nothing that is not one.

A file goes only when its name matches one of ``cleanup.logs.patterns`` (by default what
logrotate leaves, and a ``*.log`` not written for the whole retention) and it was last modified
before the retention. The walk holds each folder open and names entries relative to it, so a
symlink, whether to a file or to a folder, is never followed or removed, even one swapped in
during the walk; it stays on the configured folder's filesystem and goes into subfolders only
with ``recursive: true``.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stackwatch.config.cleanup import LogCleanupConfig
from stackwatch.filesystems import parse_mounts

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class LogCleanupResult:
    removed: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)


def mount_points(mounts: Path = Path("/proc/self/mounts")) -> frozenset[str]:
    """This process's mount points; none when they cannot be read (the device check remains)."""
    try:
        return frozenset(m.mountpoint for m in parse_mounts(mounts.read_text(errors="replace")))
    except OSError:
        return frozenset()


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether a file name matches one of the glob patterns (case-sensitive, as on disk)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@dataclass(frozen=True)
class _Candidate:
    folder_fd: int
    name: str
    path: Path
    size: int


class _Walk:
    """One configured folder's old matching files, found through open folder descriptors."""

    def __init__(self, settings: LogCleanupConfig, cutoff: float, result: LogCleanupResult):
        self.settings = settings
        self.cutoff = cutoff
        self.result = result
        self.mount_points = mount_points()

    def files(self, fd: int, path: Path, device: int, real: Path) -> Iterator[_Candidate]:
        try:
            names = sorted(os.listdir(fd))
        except OSError as exc:
            self.result.errors.append(f"{path}: {exc.strerror}")
            return
        for name in names:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue  # vanished since the listing
            # another filesystem, or a bind mount of this one (same device, but a mount point)
            if st.st_dev != device or str(real / name) in self.mount_points:
                continue
            if stat.S_ISDIR(st.st_mode):
                if self.settings.recursive:
                    yield from self.folder(fd, name, path / name, device, real)
            elif (
                stat.S_ISREG(st.st_mode)
                and matches(name, self.settings.patterns)
                and st.st_mtime < self.cutoff
            ):
                yield _Candidate(fd, name, path / name, st.st_size)

    def folder(
        self, parent: int, name: str, path: Path, device: int, real: Path
    ) -> Iterator[_Candidate]:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError:
            return  # replaced by a symlink or removed since the listing
        try:
            if os.fstat(fd).st_dev == device:
                yield from self.files(fd, path, device, real / name)
        finally:
            os.close(fd)


def remove_old_logs(
    settings: LogCleanupConfig, *, now: float, dry_run: bool = False
) -> LogCleanupResult:
    """Delete (or, in a dry run, list) the matching files last modified before the retention."""
    result = LogCleanupResult()
    walk = _Walk(settings, now - settings.retention, result)
    for folder in settings.dirs:
        if folder.is_symlink():
            result.errors.append(f"{folder}: a symlink: name the folder itself")
            continue
        try:
            fd = os.open(folder, _DIR_FLAGS)
        except OSError:
            result.errors.append(f"{folder}: not a folder")
            continue
        try:
            for candidate in walk.files(fd, folder, os.fstat(fd).st_dev, folder.resolve()):
                if not dry_run:
                    try:
                        os.unlink(candidate.name, dir_fd=candidate.folder_fd)
                    except OSError as exc:
                        result.errors.append(f"{candidate.path}: {exc.strerror}")
                        continue
                result.removed.append(candidate.path)
                result.bytes_freed += candidate.size
        finally:
            os.close(fd)
    return result
