"""The scrape guard: runs each collector in isolation and reports its success and duration."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.base import Collector
from stackwatch import __version__

log = logging.getLogger(__name__)


class GuardedCollectors:
    """Collects from every collector; a failing one reports ``success 0`` and the rest carry on.

    # HELP stackwatch_scrape_collector_success Whether a collector succeeded (1) or failed (0).
    # TYPE stackwatch_scrape_collector_success gauge
    # HELP stackwatch_scrape_collector_duration_seconds How long a collector took in this scrape.
    # TYPE stackwatch_scrape_collector_duration_seconds gauge
    """

    def __init__(self, collectors: Mapping[str, Collector]) -> None:
        self.collectors = dict(collectors)
        self._last_error: dict[str, str | None] = {}

    def describe(self) -> Iterable[Metric]:
        # An empty describe keeps CollectorRegistry.register from scraping at registration.
        return []

    def _record(self, name: str, error: str | None) -> None:
        # Log once per change, not on every scrape.
        if self._last_error.get(name) != error:
            if error is None:
                if name in self._last_error:
                    log.info("collector %s recovered", name)
            else:
                log.error("collector %s failed: %s", name, error)
        self._last_error[name] = error

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "stackwatch_scrape_collector_success",
            "Whether a collector succeeded (1) or failed (0) in this scrape.",
            labels=["collector"],
        )
        duration = GaugeMetricFamily(
            "stackwatch_scrape_collector_duration_seconds",
            "How long a collector took in this scrape.",
            labels=["collector"],
        )
        for name, collector in self.collectors.items():
            start = time.perf_counter()
            try:
                families = list(collector.collect())
            except Exception as exc:  # noqa: BLE001 - the one per-collector guard
                self._record(name, f"{type(exc).__name__}: {exc}")
                success.add_metric([name], 0.0)
            else:
                self._record(name, None)
                success.add_metric([name], 1.0)
                yield from families
            duration.add_metric([name], time.perf_counter() - start)
        yield success
        yield duration
        info = GaugeMetricFamily(
            "stackwatch_build_info",
            "A metric with a constant '1' value labelled by the version of stackwatch.",
            labels=["version"],
        )
        info.add_metric([__version__], 1.0)
        yield info


def build_registry(collectors: Mapping[str, Collector]) -> CollectorRegistry:
    """A fresh registry (not the global one, which scrapes at registration) for the collectors."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GuardedCollectors(collectors))
    return registry
