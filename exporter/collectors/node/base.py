"""The interface of a node_exporter collector inside the host collector, and its file reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

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
    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        """This scrape's metric families, from this scrape's ``/proc`` files."""


T = TypeVar("T")


class ProcFiles:
    """One scrape's ``/proc``: each file read and parsed at most once, whoever asks for it
    (``cpu`` and ``stat`` both come from ``/proc/stat``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parsed: dict[str, Any] = {}

    def parsed(self, name: str, parse: Callable[[str], T]) -> T:
        if name not in self._parsed:
            self._parsed[name] = parse(read_proc_file(self.path / name))
        return cast("T", self._parsed[name])


def read_proc_file(path: Path) -> str:
    """A file's text; a missing one names the path and the setting to check."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ExporterError(f"{path}: no such file (is exporter.rootfs right?)") from None
