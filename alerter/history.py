"""What Prometheus holds in the past: since when it holds data at all, and how far back a
condition that already holds goes.

A range query answers ``absent(...)`` or ``vector(1)`` for steps before the server even ran,
so ``for:`` must not count them (Prometheus's own rule engine shows such a rule pending on a
fresh server). And a new alert whose condition held over its whole ``for`` window began before
that window: a look back, bounded to ``HORIZON`` at a coarse step, finds when.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from alerter.evaluate import SeriesKey, Window, new_since_window
from alerter.model import AlertState
from alerter.rules import Rule
from stackwatch.prometheus import PrometheusClient, PrometheusError, Series

log = logging.getLogger(__name__)

HORIZON = 24 * 3600.0  # how far back either question looks
POINTS = 288  # steps of a look back: five minutes over the whole horizon
CACHE_TTL = 3600.0  # servers that do not say when they started are asked again after this
EVIDENCE = "count(up)"  # every scrape writes ``up``: Prometheus held data where it exists


@dataclass(frozen=True)
class _Known:
    started: str | None  # the server's own start time: a restart (maybe emptied) asks again
    held_from: float | None
    read_at: float


_KNOWN: dict[tuple[str, str], _Known] = {}  # by URL and headers (a Mimir tenant's own data)
_LOCK = threading.Lock()


def held_from(client: PrometheusClient, now: float) -> float:
    """When the server began to hold data (``-inf`` when it holds more than ``HORIZON``).

    The earliest of what it says: its start (``/api/v1/status/runtimeinfo``), its head
    block's first sample (``/api/v1/status/tsdb``) and the first ``up`` sample within
    ``HORIZON``, which also sees older blocks and works on Thanos, Mimir or VictoriaMetrics.
    Read once per server start and cached. Where none answers, ``now``: only what is seen
    from this evaluation on counts.
    """
    runtime = _status(client, "runtimeinfo")
    raw = runtime.get("startTime") if runtime is not None else None
    started = raw if isinstance(raw, str) else None
    server = (client.base_url, repr(sorted(client.config.headers.items())))
    with _LOCK:
        known = _KNOWN.get(server)
    if (
        known is not None
        and known.started == started
        and (started is not None or time.monotonic() - known.read_at < CACHE_TTL)
    ):
        return now if known.held_from is None else min(known.held_from, now)
    evidence = [_parse_time(started), _head_start(client)]
    try:
        evidence.append(_first_up(client, now))
        complete = True
    except _UnknownError as exc:  # what the server holds is not known: ask again next time
        log.warning("cannot tell since when Prometheus holds data: %s", exc)
        complete = False
    first = min((t for t in evidence if t is not None), default=None)
    if complete:
        with _LOCK:
            _KNOWN[server] = _Known(started, first, time.monotonic())
    return now if first is None else min(first, now)


class _UnknownError(Exception):
    """The ``up`` samples could not be read whole (a failed query, a partial answer)."""


def _status(client: PrometheusClient, name: str) -> Mapping[str, object] | None:
    try:
        return client.status(name)
    except PrometheusError as exc:  # a proxy without the endpoint: the queries still tell
        log.info("Prometheus status/%s not available: %s", name, exc)
        return None


def _parse_time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _head_start(client: PrometheusClient) -> float | None:
    tsdb = _status(client, "tsdb")
    head = tsdb.get("headStats") if tsdb is not None else None
    if not isinstance(head, dict):
        return None
    low, high = head.get("minTime"), head.get("maxTime")
    # an empty head says MaxInt64 .. MinInt64
    if isinstance(low, int) and isinstance(high, int) and 0 < low <= high:
        return low / 1000
    return None


def _first_step(series: Iterable[Series]) -> float | None:
    return min((ts for s in series for ts, _ in s.values), default=None)


def _first_up(client: PrometheusClient, now: float) -> float | None:
    """The first step with an ``up`` sample within ``HORIZON``: found at a coarse step, then
    between that step and the one before it at a fine one."""
    step = HORIZON / POINTS
    coarse = _first_step(_whole(client, now - HORIZON, now, step))
    if coarse is None:
        return None
    if coarse <= now - HORIZON + step / 2:
        return -math.inf  # data from before the horizon: nothing looked at precedes it
    found = _first_step(_whole(client, coarse - step, coarse, max(1.0, step / POINTS)))
    return coarse if found is None else found


def _whole(client: PrometheusClient, start: float, end: float, step: float) -> list[Series]:
    try:
        answer = client.query_range(EVIDENCE, start, end, step)
    except PrometheusError as exc:
        raise _UnknownError(str(exc)) from None
    if answer.incomplete is not None:
        raise _UnknownError(answer.incomplete)
    return list(answer)


def condition_starts(
    client: PrometheusClient,
    rule: Rule,
    series: Sequence[Series],
    window: Window,
    prior: Iterable[AlertState],
    now: float,
    since: float,
) -> dict[SeriesKey, float]:
    """When the condition of each new alert that held over its whole window began, as far
    back as the server holds data (``since``) and at most ``HORIZON``, at a coarse step.

    Only series without a pending or firing alert are looked up; when the look back fails the
    alert is active since its window's start, as before.
    """
    wanted = set(new_since_window(rule, series, prior, window, since))
    end = window.start
    low = max(now - HORIZON, since)
    if not wanted or low >= end:
        return {}
    step = max(window.step, 1.0, math.ceil((end - low) / POINTS))
    start = end - math.floor((end - low) / step) * step  # a step falls on the window's start
    try:
        matrix = client.query_range(rule.expr, start, end, step)
    except PrometheusError as exc:
        log.warning("rule %s: cannot look back for when it began: %s", rule.alert, exc)
        return {}
    found: dict[SeriesKey, float] = {}
    for item in matrix:
        key = frozenset((k, v) for k, v in item.labels.items() if k != "__name__")
        if key in wanted and (began := _run_start(item.values, end, step)) is not None:
            found[key] = began
    return found


def _run_start(values: Sequence[tuple[float, float]], end: float, step: float) -> float | None:
    """The first step of the unbroken run of steps that ends at ``end``."""
    points = sorted(ts for ts, _ in values)
    if not points or points[-1] < end - step / 2:
        return None
    began = points[-1]
    for ts in reversed(points):
        if began - ts > step * 1.5:
            break
        began = ts
    return began
