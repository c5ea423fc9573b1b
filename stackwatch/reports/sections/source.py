"""The report's Prometheus: queries over the last 24 h against the exporter's job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from stackwatch.config import Config
from stackwatch.errors import StackwatchError
from stackwatch.format import short_reason
from stackwatch.prometheus import PrometheusClient, Sample, Series, TransientPrometheusError

WINDOW = 24 * 3600.0
STEP = 300.0  # 289 points over 24 h: one chart pixel each, and the last point is "now"


class PromSource:
    """Queries against the exporter's job; ``SEL`` in an expression stands for its selector."""

    def __init__(self, client: PrometheusClient, job: str, now: datetime) -> None:
        self.client = client
        self.sel = f'job="{job}"'
        self.now = now
        # Prometheus works in milliseconds: an end it rounds up would drop the newest point
        self.end = round(now.timestamp(), 3)
        self.start = self.end - WINDOW
        self._history: tuple[float | None] | None = None  # asked once, then kept

    def query(self, expr: str) -> list[Sample]:
        return self.client.query(expr.replace("SEL", self.sel), at=self.end)

    def range(self, expr: str) -> list[Series]:
        return self.client.query_range(expr.replace("SEL", self.sel), self.start, self.end, STEP)

    def history_start(self) -> float | None:
        """When Prometheus's data for the job begins, if later than the window's start (a fresh
        install); None when it covers the whole window. Asked once."""
        if self._history is None:
            first = min(
                (t for series in self.range("up{SEL}") for t, _ in series.values[:1]),
                default=None,
            )
            late = first is not None and first > self.start + STEP / 2
            self._history = (first if late else None,)
        return self._history[0]


def _problem(config: Config, exc: StackwatchError) -> str:
    if isinstance(exc, TransientPrometheusError):
        return f"Prometheus unreachable at {config.prometheus.url}: {short_reason(exc)}"
    return f"Prometheus error: {short_reason(exc)}"  # a query error, or an unreadable credential


@contextmanager
def prometheus(config: Config, now: datetime) -> Iterator[PromSource | str]:
    """The report's Prometheus, or the one line that says why it cannot be read."""
    client: PrometheusClient | None = None
    answer: PromSource | str
    try:
        client = PrometheusClient(config.prometheus)
        client.query("vector(1)")
        answer = PromSource(client, config.prometheus.job, now)
    except StackwatchError as exc:
        answer = _problem(config, exc)
    try:
        yield answer
    finally:
        if client is not None:
            client.close()
