"""Files and folders only their owner can read: the database, the outbox, the logs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dirs(folder: Path) -> None:
    """Create ``folder`` and any missing parent, each 0700; existing folders keep their mode."""
    missing: list[Path] = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made meanwhile by another process: its mode is its own
            continue
        path.chmod(DIR_MODE)  # mkdir's mode passes through the umask
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)  # raises the error that explains why


def create_private(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists (an existing file keeps its mode)."""
    # O_NONBLOCK: a named pipe there is an error (ENXIO), not a wait for a reader
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, FILE_MODE)
    os.close(fd)


def open_private_append(path: Path) -> IO[bytes]:
    """``path`` opened to append, created 0600 in 0700 folders when missing."""
    private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
    return os.fdopen(fd, "ab")
