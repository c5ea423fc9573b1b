"""Reading a file the config names: only a regular file, never one that would block or never end."""

from __future__ import annotations

from pathlib import Path

from stackwatch.errors import ConfigError
from stackwatch.yamlfile import YamlFileError, read_bounded

#: a config file is read whole; a bigger one is not a config file
MAX_CONFIG_BYTES = 1024 * 1024


def read_regular_bytes(path: Path, what: str, limit: int) -> bytes:
    """The bytes of ``path``; raises ConfigError ``"{path}: {what}: why"`` for a named pipe,
    device, folder or socket (never read) or a file over ``limit`` bytes."""
    try:
        return read_bounded(path, limit)
    except OSError as exc:
        raise ConfigError(f"{path}: {what}: {exc.strerror}") from None
    except YamlFileError as exc:
        raise ConfigError(f"{path}: {what}: {exc}") from None


def read_regular_file(path: Path, what: str, limit: int) -> str:
    """The UTF-8 text of ``path``, refused as ``read_regular_bytes`` refuses, or if not UTF-8."""
    data = read_regular_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what}: not UTF-8 text (byte {exc.start})") from None
