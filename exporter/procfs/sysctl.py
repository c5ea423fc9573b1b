"""One-value kernel files (``/proc/sys/...``, ``/sys/...``) and ``/proc/sys/fs/file-nr``."""

from __future__ import annotations

from dataclasses import dataclass


def parse_uint(text: str) -> int:
    """A file holding one unsigned integer, such as ``entropy_avail`` or ``scaling_cur_freq``."""
    value = int(text.strip())
    if value < 0:
        raise ValueError(f"not an unsigned integer: {text.strip()!r}")
    return value


@dataclass(frozen=True)
class FileNr:
    """``/proc/sys/fs/file-nr``: allocated handles and the system-wide maximum."""

    allocated: int
    maximum: int


def parse_file_nr(text: str) -> FileNr:
    """Parse file-nr: allocated, unused (always 0 since 2.6) and maximum."""
    parts = text.split()
    if len(parts) != 3:
        raise ValueError(f"not a file-nr file: {text.strip()!r}")
    return FileNr(int(parts[0]), int(parts[2]))
