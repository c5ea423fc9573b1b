"""The interface every collector implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric


class Collector(ABC):
    """One source of metrics; ``name`` is its config switch and its ``collector`` label.

    ``collect`` builds fresh metric families on every call, so a series whose object is gone
    (a removed container, a deleted pod) disappears from the next scrape. It must not retry or
    sleep; background work (probes, API refreshes) belongs in ``start``/``close``.
    """

    name: str

    def start(self) -> None:  # noqa: B027 - optional hook
        """Start background work, if any. Called once before the first scrape."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop background work and release clients."""

    @abstractmethod
    def collect(self) -> Iterable[Metric]:
        """Return this scrape's metric families; raise on failure (the guard reports it)."""
