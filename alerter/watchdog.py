"""The watchdog's decision, pure: from each watched group's last evaluation, whether the Prefect
API answers, what was mailed before and the time, whether "checks stopped" or "checks resumed"
is due. No I/O and no Prefect: the clock and every reading are handed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackwatch.format import format_duration, human_duration, moment_text

STOPPED = "stopped"
RESUMED = "resumed"


@dataclass(frozen=True)
class Watched:
    """A check group, its flow's schedule interval (seconds), its last evaluation (unixtime)."""

    group: str
    interval: float
    last: float | None  # None: never evaluated


@dataclass(frozen=True)
class WatchState:
    """What the watchdog remembers between looks (in the state database, across restarts)."""

    started_at: float  # the first look: a group never evaluated counts from here
    stopped: tuple[str, ...] = ()  # what the last "stopped" mail named; () when none is open
    alarmed: bool = False  # a "stopped" mail went out and no "resumed" one since
    api_down_since: float | None = None
    mailed_at: float | None = None


@dataclass(frozen=True)
class Decision:
    """The new state, the mail due (``STOPPED``, ``RESUMED`` or None) and why."""

    state: WatchState
    mail: str | None
    stale: tuple[Watched, ...]
    api_reachable: bool
    api_unreachable_for: float | None  # seconds; None while it answers


def decide(
    watched: Sequence[Watched],
    api_reachable: bool,
    prior: WatchState | None,
    now: float,
    *,
    stale_after: float,
    api_after: float,
) -> Decision:
    """One look: a group is stale when its last evaluation is older than ``stale_after`` times
    its interval; the API alarms once unreachable for ``api_after``. Either opens one
    "stopped" mail; "resumed" follows once neither holds."""
    state = prior or WatchState(started_at=now)
    down_since = None if api_reachable else (state.api_down_since or now)
    stale = tuple(
        w
        for w in watched
        if now - (w.last if w.last is not None else state.started_at) > stale_after * w.interval
    )
    down_for = now - down_since if down_since is not None else None
    alarm = bool(stale) or (down_for is not None and down_for >= api_after)
    mail = (
        STOPPED if alarm and not state.alarmed else RESUMED if state.alarmed and not alarm else None
    )
    new = WatchState(
        started_at=state.started_at,
        stopped=tuple(w.group for w in stale)
        if mail == STOPPED
        else state.stopped
        if alarm
        else (),
        alarmed=alarm,
        api_down_since=down_since,
        mailed_at=now if mail is not None else state.mailed_at,
    )
    return Decision(new, mail, stale, api_reachable, down_for)


def _api_line(decision: Decision) -> str:
    if decision.api_reachable:
        return "Prefect API: reachable"
    return f"Prefect API: unreachable for {human_duration(decision.api_unreachable_for)}"


def _group_line(w: Watched, now: float) -> str:
    last = (
        f"last run at {moment_text(w.last)} ({human_duration(now - w.last)} ago)"
        if w.last is not None
        else "never run"
    )
    return f"{w.group}: {last}, scheduled every {format_duration(w.interval)}"


def message(decision: Decision, watched: Sequence[Watched], now: float) -> tuple[str, str]:
    """The subject and text of the mail ``decision`` calls for."""
    if decision.mail == STOPPED:
        names = ", ".join(w.group for w in decision.stale) or "none stale yet"
        last = max((w.last for w in decision.stale if w.last is not None), default=None)
        subject = f"[WATCHDOG] checks stopped: {names}, last run at {moment_text(last) or 'never'}"
        head = "No check has run for longer than the watchdog allows."
    else:
        subject = "[WATCHDOG] checks resumed"
        head = "The checks run again."
    lines = [head, "", _api_line(decision), "", *(_group_line(w, now) for w in watched)]
    return subject + f", {_api_line(decision)}", "\n".join(lines) + "\n"
