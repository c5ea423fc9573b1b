"""The interface of a node_exporter collector inside the host collector, and its file reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import Metric

from exporter.errors import ExporterError


class NodeCollector(ABC):
    """One node_exporter collector (``cpu``, ``meminfo``...): maps parsed files to metrics.

    ``files`` are the ``/proc`` files it cannot work without: the host collector checks them at
    start-up. A failure fails the whole host collector, whose guard reports it.
    """

    name: str
    files: tuple[str, ...] = ()

    @abstractmethod
    def collect(self) -> Iterator[Metric]:
        """This scrape's metric families."""


def read_proc_file(path: Path) -> str:
    """A file's text; a missing one names the path and the setting to check."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ExporterError(f"{path}: no such file (is exporter.rootfs right?)") from None
