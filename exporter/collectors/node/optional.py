"""Files a kernel has or lacks from boot, looked for once (reading: ``exporter.sysfs.files``)."""

from __future__ import annotations

from pathlib import Path

from exporter.sysfs.files import read_text


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
        text = read_text(path)
        if text is None:
            self._absent.add(key)
        return text
