"""The watchdog's decision on an injected clock: one "stopped" mail, one "resumed" mail, the
Prefect API's grace time, and a state carried over a restart."""

from __future__ import annotations

from alerter.watchdog import RESUMED, STOPPED, Decision, Watched, WatchState, decide, message

T0 = 1_800_000_000.0


def _decide(
    watched: list[Watched], prior: WatchState | None, now: float, api: bool = True
) -> Decision:
    return decide(watched, api, prior, now, stale_after=3.0, api_after=300.0)


def test_a_stale_group_is_mailed_once_then_resumed_once() -> None:
    fresh = [Watched("a", 300, T0), Watched("b", 600, T0)]
    first = _decide(fresh, None, T0 + 60)
    assert (first.mail, first.stale) == (None, ())
    # a: 3 x 5m = 15m; just under it nothing, just over it one mail naming a only
    assert _decide(fresh, first.state, T0 + 900).mail is None
    stopped = _decide(fresh, first.state, T0 + 901)
    assert stopped.mail == STOPPED
    assert [w.group for w in stopped.stale] == ["a"]
    assert stopped.state.stopped == ("a",)
    # later looks (b stale too, a restart that reads the state back): no second mail
    later = _decide(fresh, stopped.state, T0 + 2000)
    assert later.mail is None
    assert [w.group for w in later.stale] == ["a", "b"]
    restarted = _decide(fresh, WatchState(**vars(later.state)), T0 + 2100)
    assert restarted.mail is None
    # a runs again, b not yet: still stopped; both again: one resumed mail
    half = [Watched("a", 300, T0 + 2150), Watched("b", 600, T0)]
    assert _decide(half, restarted.state, T0 + 2200).mail is None
    both = [Watched("a", 300, T0 + 2150), Watched("b", 600, T0 + 2190)]
    resumed = _decide(both, restarted.state, T0 + 2200)
    assert resumed.mail == RESUMED
    assert (resumed.state.alarmed, resumed.state.stopped) == (False, ())
    assert _decide(both, resumed.state, T0 + 2260).mail is None


def test_a_group_never_evaluated_counts_from_the_first_look() -> None:
    never = [Watched("a", 60, None)]
    first = _decide(never, None, T0)
    assert first.mail is None
    assert _decide(never, first.state, T0 + 180).mail is None
    late = _decide(never, first.state, T0 + 181)
    assert late.mail == STOPPED
    subject, text = message(late, never, T0 + 181)
    assert subject == ("[WATCHDOG] checks stopped: a, last run at never, Prefect API: reachable")
    assert "a: never run, scheduled every 1m" in text


def test_the_prefect_api_unreachable_for_its_grace_time_is_mailed() -> None:
    fresh = [Watched("a", 3600, T0)]
    down = _decide(fresh, None, T0 + 10, api=False)
    assert (down.mail, down.state.api_down_since) == (None, T0 + 10)
    assert _decide(fresh, down.state, T0 + 309, api=False).mail is None
    alarm = _decide(fresh, down.state, T0 + 310, api=False)
    assert alarm.mail == STOPPED
    subject, text = message(alarm, fresh, T0 + 310)
    assert subject.endswith(", Prefect API: unreachable for 5 min")
    assert "a: last run at 2027-01-15 08:00:00 UTC (5 min ago), scheduled every 1h" in text
    # an answer in between starts the grace time again
    back = _decide(fresh, down.state, T0 + 200, api=True)
    assert back.state.api_down_since is None
    assert _decide(fresh, back.state, T0 + 400, api=False).mail is None
    resumed = _decide(fresh, alarm.state, T0 + 400, api=True)
    assert resumed.mail == RESUMED
    assert message(resumed, fresh, T0 + 400)[0] == (
        "[WATCHDOG] checks resumed, Prefect API: reachable"
    )


def test_a_stopped_mail_names_the_latest_last_run() -> None:
    watched = [Watched("a", 60, T0), Watched("b", 60, T0 + 30)]
    stopped = _decide(watched, WatchState(started_at=T0), T0 + 500)
    subject, _ = message(stopped, watched, T0 + 500)
    assert subject.startswith(
        "[WATCHDOG] checks stopped: a, b, last run at 2027-01-15 08:00:30 UTC"
    )
