"""Reading the small files of ``/proc`` and ``/sys`` that a machine may lack.

One rule for every collector, as node_exporter's: a file that is absent (its driver, kernel
feature or hardware missing) means nothing to export; any other error reading a file that is
there (EISDIR, EIO, a permission refused) is raised, and the collector reports a failure.
A caller that knows a file refuses some readers names those errors too (``ROOT_ONLY`` for
DMI's serial numbers). The network class reads its attributes on its own (``net_class.py``):
there a refused attribute (a down link's speed: EINVAL) is one left out, as in node_exporter.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR})
# files only root reads (product_serial, product_uuid): node_exporter skips them for others
ROOT_ONLY = ABSENT | {errno.EACCES, errno.EPERM}


def read_text(path: Path | str, absent: frozenset[int] = ABSENT) -> str | None:
    """A small file's text, or None when it is absent (an errno in ``absent``).

    Any other error is raised. A raw ``os.read`` because a scrape reads a hundred of these
    and ``open()`` costs more.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in absent:
            return None
        raise
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError as exc:
        if exc.errno in absent:
            return None
        raise
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def read_optional(path: Path | str, absent: frozenset[int] = ABSENT) -> str | None:
    """A file's text without surrounding whitespace, or None when it is absent."""
    text = read_text(path, absent)
    return None if text is None else text.strip()


def read_attribute(path: Path) -> str:
    """An attribute's text without surrounding whitespace, as procfs's ``util.SysReadFile``."""
    with path.open("rb") as handle:
        return handle.read(4096).decode("utf-8", "replace").strip()
