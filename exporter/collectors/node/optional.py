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


class KernelFeatureFiles:
    """Files a kernel has or lacks from boot (``/proc/schedstat`` needs CONFIG_SCHEDSTATS,
    ``/proc/pressure`` PSI): one found absent is not looked for again, which saves the host
    scrape a failing open() per file on every scrape."""

    def __init__(self) -> None:
        self._absent: set[str] = set()

    def read(self, path: Path) -> str | None:
        key = str(path)
        if key in self._absent:
            return None
        text = read_optional(path)
        if text is None:
            self._absent.add(key)
        return text
