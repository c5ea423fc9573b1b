"""Pure alert evaluation: given a rule's query result over its ``for`` window, the prior state
and the evaluation time, it returns the new alert states. No I/O here.

``for:`` is judged over the window that Prometheus holds, not across flow runs: a rule with
``for: 10m`` is queried as a range over the last ten minutes, so a condition that has held that
long fires on the first evaluation even when the flow runs only every 15 minutes. Time before
``held_from`` (when the server began to hold data) never counts: a range query answers
``absent()`` or ``vector(1)`` for steps before Prometheus even ran, its rule engine would not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from alerter import template_limits
from alerter.model import (
    BLIND_ALERT,
    FIRING,
    PENDING,
    RESOLVED,
    AlertState,
    BlindReason,
    fingerprint,
)
from alerter.rules import Rule
from alerter.templating import render
from alerter.trust import ScrapeFacts, collectors_of
from stackwatch.prometheus import Series

MAX_POINTS = 60
EPSILON = 0.001  # Prometheus's timestamps are milliseconds: a step at ``held_from`` is held

#: an alert instance's series labels without ``__name__``: the key of ``evaluate_rule``'s starts
SeriesKey = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Window:
    """The range a rule is queried over: points every ``step`` seconds from ``start`` to ``end``."""

    start: float
    end: float
    step: float

    @property
    def instant(self) -> bool:
        return self.start >= self.end


def window_for(rule: Rule, now: float, min_step: float = 1.0) -> Window:
    """An instant query for plain rules; a range covering ``for``/``keep_firing_for`` otherwise."""
    span = max(rule.for_, rule.keep_firing_for)
    if span <= 0:
        return Window(now, now, 0.0)
    step = max(min_step, math.ceil(span / MAX_POINTS))
    points = math.ceil(span / step) + 1
    return Window(now - points * step, now, float(step))


@dataclass(frozen=True)
class _Run:
    labels: dict[str, str]  # the alert's labels from the series: without ``__name__``
    source: Mapping[str, str]  # the sample's labels as the expression gave them: ``$labels``
    value: float | None
    active_now: bool
    held_since: float | None
    covers_window: bool  # held at every step of the window: ``for`` is met
    last_seen: float | None
    reaches_back: bool = False  # held since the window's start, or since data began in it

    @property
    def key(self) -> SeriesKey:
        return frozenset(self.labels.items())


def _runs(series: Sequence[Series], window: Window, held_from: float | None = None) -> list[_Run]:
    out = []
    tolerance = window.step * 1.5 if window.step else 0.0
    for item in series:
        labels = {k: v for k, v in item.labels.items() if k != "__name__"}
        points = sorted(p for p in item.values if held_from is None or p[0] >= held_from - EPSILON)
        if not points:
            continue
        last_ts, last_value = points[-1]
        active_now = window.instant or last_ts >= window.end - window.step / 2
        held_since = None
        covers = reaches_back = window.instant
        if active_now:
            held_since = last_ts
            previous = last_ts
            for ts, _ in reversed(points):
                if previous - ts > tolerance:
                    break
                held_since, previous = ts, ts
            covers = reaches_back = window.instant or held_since <= window.start + window.step / 2
            if held_from is not None and held_from > window.start:
                # data began inside the window: held from its first step on is held all along
                reaches_back = held_since < held_from + tolerance
        out.append(
            _Run(
                labels,
                item.labels,
                last_value if active_now else None,
                active_now,
                held_since,
                covers,
                last_ts,
                reaches_back,
            )
        )
    return out


def render_labels(
    rule: Rule, source: Mapping[str, str], labels: Mapping[str, str], value: float | None
) -> dict[str, str]:
    """As Prometheus: the series' ``labels``, then the rule's (templates see ``source``, the
    sample's labels)."""
    out = dict(labels)
    # a label is part of the alert's identity: it never depends on other templates' time
    with template_limits.outside_budget():
        for name, template in rule.labels.items():
            out[name] = render(template, source, value)
    out["alertname"] = rule.alert
    return out


def render_annotations(
    rule: Rule, source: Mapping[str, str], value: float | None
) -> dict[str, str]:
    """Templates see the sample's labels, as Prometheus's do: not the rule's own labels."""
    return {name: render(text, source, value) for name, text in rule.annotations.items()}


def _render_labels(rule: Rule, run: _Run) -> dict[str, str]:
    return render_labels(rule, run.source, run.labels, run.value)


def _annotations(rule: Rule, run: _Run) -> dict[str, str]:
    return render_annotations(rule, run.source, run.value)


def new_since_window(
    rule: Rule,
    series: Sequence[Series],
    prior: Iterable[AlertState],
    window: Window,
    held_from: float | None = None,
) -> list[SeriesKey]:
    """The series that held over the whole window but have no pending or firing alert yet:
    their condition began before the window, and only a look further back tells when."""
    active = {a.fingerprint for a in prior if a.state in (PENDING, FIRING)}
    return [
        run.key
        for run in _runs(series, window, held_from)
        if run.active_now
        and run.covers_window
        and fingerprint(rule.group, _render_labels(rule, run)) not in active
    ]


def evaluate_rule(
    rule: Rule,
    series: Sequence[Series],
    prior: Iterable[AlertState],
    now: float,
    window: Window,
    *,
    blind: bool = False,
    facts: ScrapeFacts | None = None,
    held_from: float | None = None,
    starts: Mapping[SeriesKey, float] | None = None,
    ended: Mapping[str, float] | None = None,
    fired_when_held: bool = False,
) -> list[AlertState]:
    """The rule's alert instances after this evaluation (pending ones that ended are dropped).

    Steps before ``held_from``, when the server began to hold data, never count as held.
    ``starts`` gives, for series that held over the whole window, when their condition began
    as far back as Prometheus holds it: a new alert is active since then, not since the window.

    ``blind`` means the data behind the whole rule cannot be trusted (a failed query, a partial
    answer, broken rule files): alerts may start, but none ends. ``facts`` judge each instance
    on its own: one whose target is not up, or whose collector failed in that target's latest
    scrape, stays as it was (see ``alerter.trust``).

    Over a span since the previous evaluation (``alerter.between``): ``ended`` says when a
    firing alert's condition ended in it (its ``resolved_at``), and with ``fired_when_held`` a
    new firing alert fired when its condition had held for ``for``, not when it is found.
    """
    needed = collectors_of(rule.expr)
    before = {a.fingerprint: a for a in prior}
    result: dict[str, AlertState] = {}
    traces: dict[str, float | None] = {}  # seen in the window but not now: for keep_firing_for
    for run in _runs(series, window, held_from):
        labels = _render_labels(rule, run)
        fp = fingerprint(rule.group, labels)
        old = before.get(fp)
        if not run.active_now:
            traces[fp] = run.last_seen
            continue
        active = old is not None and old.state in (PENDING, FIRING)
        was_firing = old is not None and old.state == FIRING
        if (
            old is not None
            and old.active_since is not None
            and (was_firing or (active and (run.reaches_back or _held_when_seen(run, old, window))))
        ):
            # the run reaches back past the window: it started when the prior state says
            since = min(old.active_since, run.held_since or now)
        else:
            since = run.held_since if run.held_since is not None else now
            if run.covers_window and starts and run.key in starts:
                since = min(since, starts[run.key])  # a first evaluation: as far back as held
        firing = rule.for_ <= 0 or was_firing or run.covers_window or now - since >= rule.for_
        state = FIRING if firing else PENDING
        episode_continues = was_firing
        result[fp] = AlertState(
            fingerprint=fp,
            group=rule.group,
            alertname=rule.alert,
            labels=labels,
            annotations=_annotations(rule, run),
            state=state,
            value=run.value,
            active_since=since,
            fired_at=(
                old.fired_at
                if episode_continues and old is not None
                else (_fired_at(rule, since, now, fired_when_held) if state == FIRING else None)
            ),
            last_seen=now,
            last_notified=old.last_notified if active and old is not None else None,
            notified=old.notified if active and old is not None else False,
            silenced_by=old.silenced_by if old is not None else None,
            expr=rule.expr,
        )
    for fp, old in before.items():
        if fp in result or old.state == RESOLVED:
            continue
        seen = [x for x in (old.last_seen, traces.get(fp)) if x is not None]
        last_seen = max(seen) if seen else None
        if blind or (facts is not None and facts.why_blind(old.labels, needed) is not None):
            result[fp] = old  # its data cannot be seen now: it stays as it was
        elif (
            old.state == FIRING
            and last_seen is not None
            and (now - last_seen < rule.keep_firing_for)
        ):
            result[fp] = replace(old, last_seen=last_seen)
        elif old.state == FIRING:
            resolved_at = min(now, (ended or {}).get(fp, now))
            result[fp] = replace(old, state=RESOLVED, resolved_at=resolved_at, last_seen=last_seen)
        # a pending alert whose condition ended simply disappears
    return list(result.values())


def _held_when_seen(run: _Run, old: AlertState, window: Window) -> bool:
    """Whether the run already held when the previous evaluation saw the alert active: the
    same condition, however far before that the window begins."""
    return (
        run.held_since is not None
        and old.last_seen is not None
        and run.held_since <= old.last_seen + window.step
    )


def _fired_at(rule: Rule, since: float, now: float, when_held: bool) -> float:
    return min(now, since + rule.for_) if when_held else now


def evaluate_blind(
    group: str,
    reasons: Sequence[BlindReason],
    prior: Iterable[AlertState],
    now: float,
) -> list[AlertState]:
    """The group's ``MonitoringBlind`` meta alerts: firing while their reason holds."""
    before = {a.fingerprint: a for a in prior}
    result: dict[str, AlertState] = {}
    for reason in reasons:
        labels = {"alertname": BLIND_ALERT, "severity": "critical", **reason.labels}
        fp = fingerprint(group, labels)
        old = before.get(fp)
        active = old is not None and old.state == FIRING
        result[fp] = AlertState(
            fingerprint=fp,
            group=group,
            alertname=BLIND_ALERT,
            labels=labels,
            annotations={"summary": reason.summary, "description": reason.description},
            state=FIRING,
            value=None,
            active_since=old.active_since if active and old is not None else now,
            fired_at=old.fired_at if active and old is not None else now,
            last_seen=now,
            last_notified=old.last_notified if active and old is not None else None,
            notified=old.notified if active and old is not None else False,
            silenced_by=old.silenced_by if old is not None else None,
        )
    for fp, old in before.items():
        if fp not in result and old.state == FIRING:
            result[fp] = replace(old, state=RESOLVED, resolved_at=now)
    return list(result.values())
