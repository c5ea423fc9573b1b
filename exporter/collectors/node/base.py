"""The interface of a node_exporter collector inside the host collector, and its file reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from prometheus_client.metrics_core import Metric

from exporter.errors import ExporterError
from exporter.sysfs.files import read_text


class NodeCollector(ABC):
    """One node_exporter collector (``cpu``, ``meminfo``...): maps parsed files to metrics.

    ``name`` is node_exporter's name for it, the ``collector`` label of
    ``node_scrape_collector_success`` and ``_duration_seconds``. ``files`` are the ``/proc``
    files it cannot work without: the host collector checks them at start-up. A collector whose
    source is absent on this machine (no bonding, no conntrack) yields nothing, which is not a
    failure; a failure fails this collector alone.
    """

    name: str
    files: tuple[str, ...] = ()

    @abstractmethod
    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        """This scrape's metric families, from this scrape's ``/proc`` files."""


T = TypeVar("T")


class ProcFiles:
    """One scrape's ``/proc`` and ``/sys``: each file read and parsed at most once, whoever asks
    for it (``cpu`` and ``stat`` both come from ``/proc/stat``)."""

    def __init__(self, path: Path, sys: Path | None = None) -> None:
        self.path = path
        self.sys = sys if sys is not None else path.parent / "sys"
        self._parsed: dict[str, Any] = {}

    def parsed(self, name: str, parse: Callable[[str], T]) -> T:
        if name not in self._parsed:
            self._parsed[name] = parse(read_proc_file(self.path / name))
        return cast("T", self._parsed[name])

    def optional(self, name: str, parse: Callable[[str], T]) -> T | None:
        """A ``/proc`` file parsed, or None where this machine has no such file."""
        key = f"?{name}"
        if key not in self._parsed:
            text = read_text(self.path / name)
            self._parsed[key] = None if text is None else parse(text)
        return cast("T | None", self._parsed[key])

    def net(self, name: str) -> str:
        """The ``/proc`` name of a network file (``dev`` -> ``1/net/dev``): the host's network
        namespace is PID 1's, which a container that shares the host's PIDs but not its network
        (the Compose file's exporter) sees too; a tree without ``1/net`` has ``net/``."""
        if "net" not in self._parsed:
            self._parsed["net"] = "1/net" if (self.path / "1" / "net").is_dir() else "net"
        return f"{self._parsed['net']}/{name}"

    def shared(self, key: str, read: Callable[[], T]) -> T:
        """What ``read`` returns, once per scrape (a ``/sys`` tree two collectors need)."""
        if key not in self._parsed:
            self._parsed[key] = read()
        return cast("T", self._parsed[key])


def read_proc_file(path: Path) -> str:
    """A file's text; a missing one names the path and the setting to check."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ExporterError(f"{path}: no such file (is exporter.rootfs right?)") from None
