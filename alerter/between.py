"""What happened between two evaluations of a group: pure, given a rule's query result over the
span since the group's previous evaluation, it returns the episodes that met ``for:`` and ended
inside that span. No I/O here.

A flow that runs every 15 minutes would otherwise never see a condition that starts and ends
between two runs, while Prometheus's own rule engine (every 15 s) fires and resolves it. The
span is queried as a range (``span_window``); each series is cut into runs of held steps, and a
run that held for ``for:`` (as Prometheus's engine would count it) and then ended is an
episode. A run that still holds at the end of the span is left to ``alerter.evaluate``, as
before.

Only what was seen counts: steps before ``held_from`` (the server held no data yet) and steps
at which the series' target was not scraped (``Coverage``) neither hold a condition nor end
one. A gap made only of such steps is bridged, so a target that was down for a minute does not
turn one episode into two, nor end an alert that never ended.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from alerter.evaluate import EPSILON, Window, render_annotations, render_labels, window_for
from alerter.model import FIRING, PENDING, AlertState, fingerprint
from alerter.rules import Rule
from alerter.trust import ScrapeFacts, Target, collectors_of, target_of
from stackwatch.prometheus import Series

#: Prometheus refuses a range query of more than 11,000 points per series
MAX_RANGE_POINTS = 11_000
#: the coarsest step of a span: finer than any ``for:`` worth writing
MAX_STEP = 60.0


def span_window(
    rule: Rule,
    now: float,
    previous: float | None,
    *,
    max_span: float,
    resolution: float,
) -> Window:
    """The range a rule is queried over when the group was last evaluated at ``previous``:
    from then (at most ``max_span`` back, at least the rule's own ``for`` window) to ``now``,
    at the scrape ``resolution`` unless the span needs a coarser step (at most ``MAX_STEP``).
    Without a previous evaluation, the rule's own window (``window_for``)."""
    own = window_for(rule, now)
    if previous is None or previous >= now:
        return own
    start = max(previous, now - max_span)
    if not own.instant:
        start = min(start, own.start)
    span = now - start
    step = min(MAX_STEP, max(resolution, 1.0, math.ceil(span / (MAX_RANGE_POINTS - 1))))
    points = math.ceil(span / step - EPSILON)
    if points < 1:
        return own
    return Window(now - points * step, now, float(step))


def _ms(ts: float) -> int:
    return round(ts * 1000)


@dataclass(frozen=True)
class Coverage:
    """The steps of a span at which the data behind a series was seen: per target, those with
    ``up == 1``; for a series without a target, those at which any target was scraped. ``None``
    means not known (every step counts as seen). Steps are milliseconds."""

    targets: Mapping[Target, frozenset[int]] = field(default_factory=dict)
    anywhere: frozenset[int] | None = None

    @classmethod
    def from_up(cls, series: Iterable[Series]) -> Coverage:
        """From the ``up`` series over the span, as a range query answers them."""
        targets: dict[Target, frozenset[int]] = {}
        anywhere: set[int] = set()
        for item in series:
            steps = {_ms(ts) for ts, _ in item.values}
            anywhere |= steps
            target = target_of(item.labels)
            if target is not None:
                targets[target] = frozenset(_ms(ts) for ts, v in item.values if v == 1)
        return cls(targets, frozenset(anywhere))

    def seen(self, labels: Mapping[str, str]) -> frozenset[int] | None:
        target = target_of(labels)
        if target is not None and target in self.targets:
            return self.targets[target]
        instance = labels.get("instance")
        if target is None and instance:
            mine = [s for t, s in self.targets.items() if t[1] == instance]
            if mine:
                return frozenset().union(*mine)
        return self.anywhere


@dataclass(frozen=True)
class Episode:
    """An alert instance that fired and resolved between two evaluations; times are Unix
    seconds. ``continued`` marks the end of an alert the previous evaluation saw firing."""

    fingerprint: str
    group: str
    alertname: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    active_since: float
    fired_at: float
    resolved_at: float
    peak: float | None
    expr: str = ""
    continued: bool = False
    notified: bool = False  # mailed as firing already (a continued one)
    silenced_by: int | None = None

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description", "")


@dataclass(frozen=True)
class Span:
    """What a span shows beyond the latest run of each series: the episodes that ended in it,
    and when each alert the previous evaluation saw pending or firing ended (its fingerprint to
    the time), and those of them that hold again now (a new alert, not the old one)."""

    episodes: tuple[Episode, ...] = ()
    ended: Mapping[str, float] = field(default_factory=dict)
    restarted: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Run:
    start: float  # first held step
    last: float  # last held step
    end: float | None  # first seen step after it at which it no longer held; None: not known
    peak: float | None


def _first_seen(
    start: float, before: float, step: float, seen: frozenset[int] | None
) -> float | None:
    """The first step from ``start`` on, before ``before``, at which the data was seen."""
    t = start
    while t < before - step / 2:
        if seen is None or _ms(t) in seen:
            return t
        t += step
    return None


def _on_grid(ts: float, window: Window) -> float:
    """The first step of ``window`` at or after ``ts``."""
    return window.start + math.ceil((ts - window.start) / window.step - EPSILON) * window.step


def _runs(
    points: Sequence[tuple[float, float]], window: Window, seen: frozenset[int] | None
) -> list[_Run]:
    """Unbroken runs of held steps; a gap breaks a run only where a step in it was seen."""
    step = window.step

    def first_seen_after(ts: float, before: float) -> float | None:
        return _first_seen(ts + step, before, step, seen)

    runs: list[_Run] = []
    start = last = points[0][0]
    peak: float | None = None
    for ts, value in points:
        if ts - last > step * 1.5:
            end = first_seen_after(last, ts)
            if end is not None:
                runs.append(_Run(start, last, end, peak))
                start, peak = ts, None
        last = ts
        if not math.isnan(value):
            peak = value if peak is None else max(peak, value)
    runs.append(_Run(start, last, first_seen_after(last, window.end + step), peak))
    return runs


def _with_keep_firing(runs: list[_Run], rule: Rule) -> list[_Run]:
    """Runs that fired and held again within ``keep_firing_for`` are one episode."""
    if rule.keep_firing_for <= 0:
        return runs
    merged: list[_Run] = []
    for run in runs:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.last - prev.start >= rule.for_
            and run.start - prev.last <= rule.keep_firing_for
        ):
            peaks = [p for p in (prev.peak, run.peak) if p is not None]
            merged[-1] = _Run(prev.start, run.last, run.end, max(peaks) if peaks else None)
        else:
            merged.append(run)
    return merged


def evaluate_span(
    rule: Rule,
    series: Sequence[Series],
    prior: Iterable[AlertState],
    window: Window,
    *,
    held_from: float | None = None,
    coverage: Coverage | None = None,
    blind: bool = False,
    facts: ScrapeFacts | None = None,
    previous: float | None = None,
) -> Span:
    """The rule's episodes that met ``for:`` and ended inside ``window`` after ``previous``,
    the group's previous evaluation (see the module); the window may begin before it, to cover
    ``for``, but what ended by then was that evaluation's.

    ``blind`` (the data behind the whole rule cannot be trusted) gives nothing: no episode and
    no end. An instance whose target is not trustworthy now (``facts``) is left out too.
    """
    if blind or window.instant:
        return Span()
    needed = collectors_of(rule.expr)
    before = {a.fingerprint: a for a in prior}
    step = window.step
    episodes: list[Episode] = []
    ended: dict[str, float] = {}
    restarted: set[str] = set()
    for item in series:
        labels = {k: v for k, v in item.labels.items() if k != "__name__"}
        seen = coverage.seen(labels) if coverage is not None else None
        points = sorted(
            (ts, v)
            for ts, v in item.values
            if (held_from is None or ts >= held_from - EPSILON)
            and (seen is None or _ms(ts) in seen)
        )
        if not points:
            continue
        if facts is not None and facts.why_blind(labels, needed) is not None:
            continue
        rendered = render_labels(rule, item.labels, labels, None)
        fp = fingerprint(rule.group, rendered)
        old = before.get(fp)
        # runs that ended before the previous evaluation were that evaluation's to judge
        anchor = max(previous if previous is not None else window.start, window.start)
        runs = [
            r
            for r in _with_keep_firing(_runs(points, window, seen), rule)
            if r.end is None or r.end > anchor + EPSILON
        ]
        if not runs:
            continue
        open_before = old is not None and old.state in (PENDING, FIRING)
        # an alert seen active before goes on in the first run, unless a step between the
        # previous evaluation and that run's start was seen without the condition
        first = _on_grid(max(anchor, held_from if held_from is not None else anchor), window)
        gap = (
            None
            if runs[0].start <= anchor + step
            else _first_seen(first, runs[0].start, step, seen)
        )
        continuing = open_before and gap is None
        if open_before and old is not None and gap is not None:
            ended[fp] = gap  # it ended right after the previous evaluation
            if old.state == FIRING and runs[-1].end is None:
                restarted.add(fp)
                episodes.append(_ended(rule, old, gap))
        for index, run in enumerate(runs):
            if run.end is None:
                continue  # still holds, or nothing seen since: evaluation's, as before
            resolved = run.end
            if rule.keep_firing_for > 0:
                resolved = max(resolved, run.last + rule.keep_firing_for)
                if resolved > window.end:
                    continue  # kept firing until now
            since = run.start
            if index == 0 and continuing and old is not None:
                ended[fp] = resolved
                if old.active_since is not None:
                    since = min(since, old.active_since)
                if old.state == FIRING:
                    if runs[-1].end is None:  # held again since: the old alert ended here
                        restarted.add(fp)
                        episodes.append(_episode(rule, item, rendered, since, run, resolved, old))
                    continue  # otherwise evaluation resolves it, at ``ended``
            if run.last - since < rule.for_:
                continue  # never fired
            episodes.append(_episode(rule, item, rendered, since, run, resolved, None))
    return Span(tuple(episodes), ended, frozenset(restarted))


def _episode(
    rule: Rule,
    item: Series,
    rendered: Mapping[str, str],
    since: float,
    run: _Run,
    resolved: float,
    old: AlertState | None,
) -> Episode:
    fired = old.fired_at if old is not None and old.fired_at is not None else since + rule.for_
    return Episode(
        fingerprint=fingerprint(rule.group, rendered),
        group=rule.group,
        alertname=rule.alert,
        labels=dict(rendered),
        annotations=render_annotations(rule, item.labels, run.peak),
        active_since=since,
        fired_at=fired,
        resolved_at=resolved,
        peak=run.peak,
        expr=rule.expr,
        continued=old is not None,
        notified=old.notified if old is not None else False,
    )


def _ended(rule: Rule, old: AlertState, at: float) -> Episode:
    """The alert the previous evaluation saw firing, ended before the span's first step."""
    return Episode(
        fingerprint=old.fingerprint,
        group=old.group,
        alertname=old.alertname,
        labels=dict(old.labels),
        annotations=dict(old.annotations),
        active_since=old.active_since if old.active_since is not None else at,
        fired_at=old.fired_at if old.fired_at is not None else at,
        resolved_at=at,
        peak=old.value,
        expr=rule.expr,
        continued=True,
        notified=old.notified,
    )


@dataclass(frozen=True)
class BetweenNotice:
    """The one mail for episodes that fired and resolved between two evaluations of a group."""

    group: str
    episodes: tuple[Episode, ...]
    since: float  # the previous evaluation: the span the episodes lie in
    until: float

    @property
    def fingerprints(self) -> frozenset[str]:
        """What the mail reports, for the outbox: each episode by its alert and start, so that
        it neither replaces nor is replaced by a queued mail about the alert as it is now."""
        return frozenset(f"{e.fingerprint}@{e.fired_at:.3f}" for e in self.episodes)

    @property
    def subject(self) -> str:
        names = ", ".join(dict.fromkeys(e.alertname for e in self.episodes))
        return f"[BETWEEN CHECKS:{len(self.episodes)}] {self.group}: {names} (fired and resolved)"


def notice_for(
    group: str,
    episodes: Iterable[Episode],
    since: float,
    until: float,
    *,
    held: Iterable[str] = (),
) -> BetweenNotice | None:
    """The mail for ``episodes``, leaving out silenced ones and those of alerts ``held`` out of
    mail (flapping); None when nothing is left."""
    skip = frozenset(held)
    mailed = tuple(
        sorted(
            (e for e in episodes if e.silenced_by is None and e.fingerprint not in skip),
            key=lambda e: (e.fired_at, e.alertname, sorted(e.labels.items())),
        )
    )
    return BetweenNotice(group, mailed, since, until) if mailed else None
