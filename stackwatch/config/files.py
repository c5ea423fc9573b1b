"""Reading a file the config names: only a regular file, never one that would block or never end."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from stackwatch.errors import ConfigError

#: a config file is read whole; a bigger one is not a config file
MAX_CONFIG_BYTES = 1024 * 1024


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def read_regular_file(path: Path, what: str, limit: int) -> str:
    """The UTF-8 text of ``path``; raises ConfigError ``"{path}: {what}: why"`` for a named
    pipe, device, folder or socket (never opened for reading), a file over ``limit`` bytes or
    text that is not UTF-8."""
    try:
        # O_NONBLOCK: opening a named pipe with no writer would block for ever
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{path}: {what}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ConfigError(f"{path}: {what}: {_file_kind(mode)}, not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{path}: {what}: larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what}: not UTF-8 text (byte {exc.start})") from None
