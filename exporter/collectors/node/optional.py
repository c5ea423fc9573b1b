"""Reading the files a node_exporter collector exports only where the kernel or host has them."""

from __future__ import annotations

from pathlib import Path


def read_optional(path: Path) -> str | None:
    """A file's text, or ``None`` when it is absent: that collector then exports nothing."""
    try:
        # open() rather than Path.read_text: the host scrape reads dozens of these.
        with open(path, encoding="utf-8", errors="replace") as file:  # noqa: PTH123
            return file.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
