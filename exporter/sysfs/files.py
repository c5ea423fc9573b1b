"""Single-value sysfs attributes read as procfs's ``util.SysReadFile`` reads them."""

from __future__ import annotations

from pathlib import Path


def read_attribute(path: Path) -> str:
    """An attribute's text without surrounding whitespace."""
    with path.open("rb") as handle:
        return handle.read(4096).decode("utf-8", "replace").strip()


def read_optional(path: Path) -> str | None:
    """An attribute's text, or None where the file is missing or not readable."""
    try:
        return read_attribute(path)
    except (FileNotFoundError, PermissionError):
        return None
