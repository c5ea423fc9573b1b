"""Flap detection in front of the notification policy: pure, given the group's states before and
after an evaluation, the recent state changes and now, it returns the mail to send.

An alert instance that changed state (firing, or not firing) more than ``changes`` times within
``window`` is mailed once as flapping and then held out of the notification policy: no FIRING
and no RESOLVED about it while it flaps. Once it has not changed for ``settle`` (and the group
is not blind) it is handed
back to the policy, told what the ``[FLAPPING]`` mail said, so that one mail goes out if its
state now differs from that. ``MonitoringBlind`` is never judged flapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from alerter.model import BLIND_ALERT, FIRING, RESOLVED, AlertState
from alerter.notify import FlapNotice, Notification, plan_notification
from stackwatch.config.sections import FlappingConfig


@dataclass(frozen=True)
class FlapRecord:
    """An alert instance while it flaps: when that was found, its last change, what was mailed."""

    fingerprint: str
    since: float
    last_change: float
    changes: int
    mailed_state: str  # FIRING or RESOLVED: what the [FLAPPING] mail said it was
    mailed_at: float


@dataclass(frozen=True)
class FlapHistory:
    """What the store knows of a group: each instance's change times within the window, and
    the instances that flap."""

    changes: Mapping[str, Sequence[float]] = field(default_factory=dict)
    flapping: Mapping[str, FlapRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class FlapUpdate:
    """What to write back: the changes seen now, the flapping instances, those that ended."""

    changes: tuple[tuple[str, str], ...] = ()  # (fingerprint, the state it changed to)
    records: tuple[FlapRecord, ...] = ()
    ended: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailPlan:
    """The mail one evaluation sends, the states to save and the flap bookkeeping."""

    states: list[AlertState]
    mails: list[Notification | FlapNotice]
    update: FlapUpdate
    flapping: frozenset[str] = frozenset()


def _alerting(state: AlertState | None) -> str:
    """The state mail speaks of: pending and absent instances are not firing."""
    return FIRING if state is not None and state.state == FIRING else RESOLVED


def _as_mailed(state: AlertState, record: FlapRecord) -> AlertState:
    """The instance as the notification policy should see it after the [FLAPPING] mail."""
    if state.state == FIRING:
        return replace(state, notified=True, last_notified=record.mailed_at)
    return replace(state, notified=False)


def plan_mail(
    group: str,
    prior: Sequence[AlertState],
    current: Sequence[AlertState],
    history: FlapHistory,
    now: float,
    *,
    flapping: FlappingConfig,
    repeat_interval: float,
    send_resolved: bool,
    blind: bool = False,
) -> MailPlan:
    """The group's mail after one evaluation, flapping instances held back (see the module).

    While the group is ``blind`` no flapping instance settles: its state may be one the data
    can no longer confirm, and a RESOLVED then would be a false all-clear.
    """
    if not flapping.enabled:
        notification, states = plan_notification(
            group, prior, current, now, repeat_interval=repeat_interval, send_resolved=send_resolved
        )
        mails: list[Notification | FlapNotice] = [notification] if notification else []
        return MailPlan(states, mails, FlapUpdate(ended=tuple(history.flapping)))

    before = {s.fingerprint: s for s in prior}
    after = {s.fingerprint: s for s in current}
    for fp in history.flapping:
        old = before.get(fp)
        if fp not in after and old is not None:
            # evaluation drops a resolved instance (and an ended pending one) at once; one that
            # flaps stays, not firing, until it settles and its last mail can be answered
            if old.state != RESOLVED:
                old = replace(old, state=RESOLVED, resolved_at=now)
            after[fp] = old

    changes: list[tuple[str, str]] = []
    records: list[FlapRecord] = []
    ended: list[str] = []
    held: dict[str, AlertState] = {}
    noticed: list[tuple[AlertState, int]] = []
    plan_prior = dict(before)
    plan_current = dict(after)
    for fp in dict.fromkeys([*before, *after]):
        state, old = after.get(fp), before.get(fp)
        if (state if state is not None else before[fp]).alertname == BLIND_ALERT:
            continue
        changed = _alerting(old) != _alerting(state)
        if changed:
            changes.append((fp, _alerting(state)))
        record = history.flapping.get(fp)
        if state is None:
            if record is not None:
                ended.append(fp)
            continue
        times = [t for t in history.changes.get(fp, ()) if t > now - flapping.window]
        count = len(times) + int(changed)
        if record is None:
            if count > flapping.changes:
                record = FlapRecord(fp, now, now, count, _alerting(state), now)
                records.append(record)
                if state.silenced_by is None and state.inhibited_by is None:
                    noticed.append((state, count))
                held[fp] = _as_mailed(state, record)
            continue
        last_change = now if changed else record.last_change
        if blind or now - last_change < flapping.settle:
            record = replace(record, last_change=last_change, changes=count)
            records.append(record)
            held[fp] = _as_mailed(state, record)
            continue
        # settled: back to the usual policy, told what the [FLAPPING] mail said, so that it
        # mails once if the state now differs from that
        ended.append(fp)
        if _alerting(state) == record.mailed_state:
            plan_current[fp] = _as_mailed(state, record)
        elif state.state == FIRING:
            plan_current[fp] = replace(state, notified=False)  # a new FIRING
        elif state.state == RESOLVED:
            # to the policy it was firing and mailed as such: it sends the RESOLVED
            plan_prior[fp] = replace(old if old is not None else state, state=FIRING)
            plan_current[fp] = replace(state, notified=True)

    notification, states = plan_notification(
        group,
        [s for fp, s in plan_prior.items() if fp not in held],
        [s for fp, s in plan_current.items() if fp not in held],
        now,
        repeat_interval=repeat_interval,
        send_resolved=send_resolved,
    )
    mails = []
    if noticed:
        mails.append(FlapNotice(group, tuple(noticed), flapping.window, flapping.settle))
    if notification is not None:
        mails.append(notification)
    update = FlapUpdate(tuple(changes), tuple(records), tuple(ended))
    return MailPlan([*states, *held.values()], mails, update, frozenset(held))
