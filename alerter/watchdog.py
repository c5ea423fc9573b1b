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
    """A check group, its flow's schedule interval (seconds), its last evaluation (unixtime),
    the flow that evaluates it and that flow's cron schedule ("" when replaced or not known)."""

    group: str
    interval: float
    last: float | None  # None: never evaluated
    flow: str = ""
    cron: str = ""


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


def api_line(decision: Decision) -> str:
    if decision.api_reachable:
        return "Prefect API: reachable"
    return f"Prefect API: unreachable for {human_duration(decision.api_unreachable_for)}"


def last_run(w: Watched, now: float) -> str:
    """``last run at MOMENT (12 min ago)``, or ``never run``."""
    if w.last is None:
        return "never run"
    return f"last run at {moment_text(w.last)} ({human_duration(now - w.last)} ago)"


def schedule(w: Watched) -> str:
    """The flow and its schedule: ``flow system-health-check, cron */5 * * * * (UTC)``."""
    parts = [f"flow {w.flow}"] if w.flow else []
    if w.cron:
        parts.append(f"cron {w.cron} (UTC)")
    return ", ".join(parts)


def _group_lines(w: Watched, now: float) -> list[str]:
    line = f"  {w.group}: {last_run(w, now)}, scheduled every {format_duration(w.interval)}"
    more = schedule(w)
    return [line, f"    {more}"] if more else [line]


#: what the reader runs to look (after the command, ``links.command``) and what it shows
LOOK_COMMANDS = (
    ("flows list", "the flows, their schedules and the rule groups each evaluates"),
    ("watchdog --once", "look again now and print what the watchdog finds"),
)


def message(
    decision: Decision,
    watched: Sequence[Watched],
    now: float,
    *,
    command: str = "stackwatch",
    runs_url: str | None = None,
) -> tuple[str, str]:
    """The subject and text of the mail ``decision`` calls for; ``runs_url``: the Prefect UI's
    flow runs, when one is configured."""
    stale = {w.group for w in decision.stale}
    if decision.mail == STOPPED:
        names = ", ".join(w.group for w in decision.stale) or "none stale yet"
        last = max((w.last for w in decision.stale if w.last is not None), default=None)
        subject = f"[WATCHDOG] checks stopped: {names}, last run at {moment_text(last) or 'never'}"
        head = "No check has run for longer than the watchdog allows."
    else:
        subject = "[WATCHDOG] checks resumed"
        head = "The checks run again."
    lines = [head, "", api_line(decision)]
    for title, groups in (
        ("Stopped", [w for w in watched if w.group in stale]),
        ("Running" if stale else "Check groups", [w for w in watched if w.group not in stale]),
    ):
        if groups:
            lines += ["", f"{title}:"]
            for w in groups:
                lines += _group_lines(w, now)
    if decision.mail == STOPPED:
        width = max(len(f"{command} {c}") for c, _ in LOOK_COMMANDS)
        lines += ["", "To look:"]
        lines += [f"  {f'{command} {c}':<{width}}  {what}" for c, what in LOOK_COMMANDS]
        if runs_url:
            lines.append(f"  Prefect UI, flow runs: {runs_url}")
    return subject + f", {api_line(decision)}", "\n".join(lines) + "\n"
