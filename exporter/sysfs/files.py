"""Reading the small files of ``/proc`` and ``/sys`` that may be absent or refuse a read."""

from __future__ import annotations

import os
from pathlib import Path


def read_text(path: Path | str) -> str | None:
    """A small ``/proc`` or ``/sys`` file's text, or None if it is missing or unreadable.

    sysfs answers some attributes with an error rather than a value (``carrier`` of a link
    that is down: EINVAL), which node_exporter takes as "no such attribute"; so does this.
    A raw ``os.read`` because a scrape reads a hundred of these and ``open()`` costs more.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def read_attribute(path: Path) -> str:
    """An attribute's text without surrounding whitespace, as procfs's ``util.SysReadFile``."""
    with path.open("rb") as handle:
        return handle.read(4096).decode("utf-8", "replace").strip()


def read_optional(path: Path) -> str | None:
    """An attribute's text without surrounding whitespace, or None where it cannot be read."""
    text = read_text(path)
    return None if text is None else text.strip()
