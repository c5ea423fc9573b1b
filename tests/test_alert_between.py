"""Episodes between two evaluations: the span window, the pure span evaluation on series, the
store's episodes (and its migration from version 4) and the mail that reports them."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerter.between import (
    MAX_RANGE_POINTS,
    BetweenNotice,
    Coverage,
    Span,
    evaluate_span,
    notice_for,
    span_window,
)
from alerter.evaluate import Window, evaluate_rule, window_for
from alerter.model import FIRING, PENDING, RESOLVED, AlertState
from alerter.notify import MailRenderer
from alerter.rules import Rule
from alerter.store import SCHEMA_VERSION, AlertStore
from alerter.trust import ScrapeFacts
from stackwatch.config import Config
from stackwatch.mail import Mailer
from stackwatch.prometheus import Series
from stackwatch.reports.sections import alerts as alerts_section
from stackwatch.reports.sections.gate import Context, gate

NOW = 1_800_000_000.0
PREVIOUS = NOW - 900.0  # the group's previous evaluation, 15 minutes before
STEP = 15.0
RULE = Rule(
    alert="CpuSaturated",
    expr="test_value > 90",
    group="g",
    for_=300.0,
    labels={"severity": "warning"},
    annotations={"summary": "{{ $labels.host }} at {{ $value }}"},
)
TARGET = {"job": "stackwatch", "instance": "web1:9810"}


def span(rule: Rule = RULE) -> Window:
    return span_window(rule, NOW, PREVIOUS, max_span=6 * 3600, resolution=STEP)


def held(*runs: tuple[float, float], value: float = 95.0, peak_at: float | None = None) -> Series:
    """A series holding from each run's first to its last offset (seconds after the span's
    start, ends included), at the span's steps."""
    window = span()
    points = []
    for first, last in runs:
        t = window.start + first
        while t <= window.start + last + 1e-6:
            points.append(
                (t, 99.0 if peak_at is not None and t == window.start + peak_at else value)
            )
            t += window.step
    return Series({"__name__": "test_value", "host": "db-1", **TARGET}, points)


def up(unseen: tuple[float, float] | None = None) -> Coverage:
    """``up`` of the target over the span: 1, or 0 within ``unseen`` (offsets, ends included)."""
    window = span()
    points = []
    t = window.start
    while t <= window.end + 1e-6:
        down = unseen is not None and unseen[0] <= t - window.start <= unseen[1]
        points.append((t, 0.0 if down else 1.0))
        t += window.step
    return Coverage.from_up([Series({"__name__": "up", **TARGET}, points)])


def test_the_span_reaches_back_to_the_previous_evaluation_at_the_scrape_resolution() -> None:
    window = span()
    assert window.end == NOW
    assert window.step == STEP
    assert window.start <= PREVIOUS < window.start + STEP
    # the first evaluation has no previous one: the rule's own window, as before
    assert span_window(RULE, NOW, None, max_span=6 * 3600, resolution=STEP) == window_for(RULE, NOW)
    # a previous evaluation a minute ago: still the whole for window
    recent = span_window(RULE, NOW, NOW - 60, max_span=6 * 3600, resolution=STEP)
    assert recent.start <= NOW - RULE.for_


def test_the_span_is_bounded_in_time_and_points() -> None:
    week = span_window(RULE, NOW, NOW - 30 * 86400, max_span=7 * 86400, resolution=1.0)
    assert week.start >= NOW - 7 * 86400 - week.step
    assert (week.end - week.start) / week.step < MAX_RANGE_POINTS
    assert 1.0 < week.step <= 60.0  # coarser than the resolution only as the span needs
    six_hours = span_window(RULE, NOW, NOW - 86400, max_span=6 * 3600, resolution=1.0)
    assert six_hours.start >= NOW - 6 * 3600 - six_hours.step
    assert (six_hours.end - six_hours.start) / six_hours.step < MAX_RANGE_POINTS


def test_a_condition_shorter_than_for_is_no_episode() -> None:
    result = evaluate_span(RULE, [held((60, 60 + 285))], [], span(), coverage=up())
    assert result.episodes == ()


def test_a_condition_just_longer_than_for_is_one_episode_with_its_times_and_peak() -> None:
    window = span()
    result = evaluate_span(RULE, [held((60, 375), peak_at=120)], [], window, coverage=up())
    [episode] = result.episodes
    assert episode.alertname == "CpuSaturated"
    assert (
        episode.labels
        == {"alertname": "CpuSaturated", "host": "db-1", "severity": "warning"} | TARGET
    )
    assert episode.active_since == window.start + 60
    assert episode.fired_at == window.start + 60 + 300
    assert episode.resolved_at == window.start + 375 + STEP  # the first step it no longer held
    assert episode.peak == 99.0
    assert episode.annotations == {"summary": "db-1 at 99"}
    assert not episode.continued


def test_several_episodes_in_one_span() -> None:
    window = span()
    result = evaluate_span(RULE, [held((0, 330), (450, 780))], [], window, coverage=up())
    assert [(e.fired_at, e.resolved_at) for e in result.episodes] == [
        (window.start + 300, window.start + 345),
        (window.start + 750, window.start + 795),
    ]


def test_a_condition_still_holding_is_left_to_evaluation() -> None:
    window = span()
    series = held((600, window.end - window.start))
    assert evaluate_span(RULE, [series], [], window, coverage=up()).episodes == ()
    [alert] = evaluate_rule(RULE, [series], [], NOW, window, fired_when_held=True)
    assert (alert.state, alert.active_since) == (FIRING, window.start + 600)
    assert alert.fired_at == window.start + 900  # when it had held for five minutes


def test_missing_samples_while_the_target_was_down_do_not_split_an_episode() -> None:
    window = span()
    series = held((0, 150), (240, 420))  # 150..240: no samples, the target was not scraped
    result = evaluate_span(RULE, [series], [], window, coverage=up(unseen=(160, 230)))
    [episode] = result.episodes
    assert (episode.active_since, episode.resolved_at) == (window.start, window.start + 435)
    # the same gap while the target was up is a real end: two runs, each shorter than for
    assert evaluate_span(RULE, [series], [], window, coverage=up()).episodes == ()


def test_a_condition_followed_by_an_unseen_stretch_has_not_ended() -> None:
    window = span()
    series = held((0, 450))  # then the target went down until now
    result = evaluate_span(RULE, [series], [], window, coverage=up(unseen=(460, 900)))
    assert result.episodes == ()
    assert result.ended == {}


def test_steps_at_which_the_server_held_no_data_do_not_count() -> None:
    window = span()
    # `absent()` answers 1 where the server held nothing: only from held_from on does it count
    series = held((0, 420))
    result = evaluate_span(RULE, [series], [], window, held_from=window.start + 240, coverage=up())
    assert result.episodes == ()


def test_keep_firing_for_joins_runs_and_delays_the_resolution() -> None:
    rule = replace(RULE, keep_firing_for=120.0)
    window = span(rule)
    result = evaluate_span(rule, [held((0, 330), (420, 480))], [], window, coverage=up())
    [episode] = result.episodes
    assert episode.fired_at == window.start + 300
    assert episode.resolved_at == window.start + 480 + 120
    # kept firing until now: not over yet
    late = evaluate_span(rule, [held((0, 810))], [], window, coverage=up())
    assert late.episodes == ()


def test_a_blind_rule_or_target_gives_no_episode_and_no_end() -> None:
    window = span()
    series = held((0, 330))
    firing = AlertState(
        fingerprint="x", group="g", alertname="CpuSaturated", labels={}, annotations={},
        state=FIRING, value=95.0, active_since=PREVIOUS - 600, fired_at=PREVIOUS - 300,
    )  # fmt: skip
    assert evaluate_span(RULE, [series], [firing], window, blind=True) == Span()
    down = ScrapeFacts("stackwatch", {("stackwatch", "web1:9810"): False})
    assert evaluate_span(RULE, [series], [], window, facts=down).episodes == ()


def _firing_at_previous(window: Window) -> AlertState:
    [pending] = evaluate_rule(
        RULE, [held((0, 0))], [], window.start, window_for(RULE, window.start)
    )
    return replace(
        pending, state=FIRING, active_since=PREVIOUS - 600, fired_at=PREVIOUS - 300, notified=True
    )


def test_an_alert_firing_at_the_previous_evaluation_resolves_when_it_ended() -> None:
    window = span()
    old = _firing_at_previous(window)
    series = held((0, 180))
    result = evaluate_span(RULE, [series], [old], window, coverage=up())
    assert result.episodes == ()  # evaluation resolves it, with its RESOLVED mail
    assert result.ended == {old.fingerprint: window.start + 195}
    [alert] = evaluate_rule(RULE, [series], [old], NOW, window, ended=result.ended)
    assert (alert.state, alert.resolved_at, alert.fired_at) == (
        RESOLVED,
        window.start + 195,
        PREVIOUS - 300,
    )


def test_an_alert_that_ended_and_holds_again_is_a_new_alert() -> None:
    window = span()
    old = _firing_at_previous(window)
    series = held((0, 180), (600, window.end - window.start))
    result = evaluate_span(RULE, [series], [old], window, coverage=up())
    [ended] = result.episodes
    assert ended.continued
    assert ended.notified  # it was mailed as firing: the mail says it ended
    assert (ended.fired_at, ended.resolved_at) == (PREVIOUS - 300, window.start + 195)
    assert result.restarted == {old.fingerprint}
    [alert] = evaluate_rule(RULE, [series], [], NOW, window, fired_when_held=True)
    assert (alert.state, alert.active_since, alert.notified) == (
        FIRING,
        window.start + 600,
        False,
    )


def test_a_pending_alert_that_met_for_and_ended_is_an_episode_from_its_start() -> None:
    window = span()
    pending = replace(_firing_at_previous(window), state=PENDING, active_since=PREVIOUS - 200)
    pending = replace(pending, fired_at=None, notified=False)
    result = evaluate_span(RULE, [held((0, 180))], [pending], window, coverage=up())
    [episode] = result.episodes
    assert (episode.active_since, episode.fired_at) == (PREVIOUS - 200, PREVIOUS + 100)


def test_episodes_are_stored_once_and_listed_with_the_other_alerts(tmp_path: Path) -> None:
    window = span()
    [episode] = evaluate_span(RULE, [held((60, 375), peak_at=120)], [], window).episodes
    with AlertStore(tmp_path / "state.db") as store:
        assert store.save_episodes([episode]) == [episode]
        assert store.save_episodes([episode]) == []  # looked at again: not new, not mailed
        [record] = store.history(datetime.fromtimestamp(PREVIOUS, tz=UTC))
    assert record.between_checks
    assert (record.state, record.peak, record.alertname) == ("resolved", 99.0, "CpuSaturated")
    assert record.fired_at == datetime.fromtimestamp(window.start + 360, tz=UTC)
    assert record.resolved_at == datetime.fromtimestamp(window.start + 390, tz=UTC)
    assert record.summary == "db-1 at 99"


def test_a_version_4_database_is_migrated_and_keeps_its_episodes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)  # a version 4 database, as that version wrote it
    db.executescript((Path(__file__).parent / "fixtures" / "state" / "schema-v4.sql").read_text())
    db.executescript(
        """INSERT INTO episodes (fingerprint, fired_at, grp, alertname, labels, summary,
               value, active_since, resolved_at)
           VALUES ('f', 100, 'g', 'Old', '{}', 'old one', 1, 90, 200);
           INSERT INTO evaluations (grp, evaluated_at, success) VALUES ('g', 150, 1);"""
    )
    db.commit()
    db.close()
    with AlertStore(path) as store:
        version = store._db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION) == "6"
        [old] = store.history(datetime.fromtimestamp(0, tz=UTC))
        assert (old.alertname, old.between_checks, old.peak) == ("Old", False, None)
        assert store.covered_to("g") is None  # an old evaluation: the next looks at for only
        store.record_evaluation("g", 300, success=True, covered_to=300)
        store.record_evaluation("g", 400, success=False, error="down")
        assert store.covered_to("g") == 300  # a failed evaluation covered nothing
        [episode] = evaluate_span(RULE, [held((60, 375))], [], span()).episodes
        assert store.save_episodes([episode]) == [episode]


def test_the_mail_says_the_alert_fired_and_resolved_between_checks(tmp_path: Path) -> None:
    window = span()
    [episode] = evaluate_span(RULE, [held((60, 375), peak_at=120)], [], window).episodes
    silenced = replace(episode, fingerprint="other", silenced_by=3)
    notice = notice_for("g", [episode, silenced], PREVIOUS, NOW)
    assert isinstance(notice, BetweenNotice)
    assert notice.episodes == (episode,)  # a silenced episode is recorded, not mailed
    assert notice_for("g", [episode], PREVIOUS, NOW, held=[episode.fingerprint]) is None
    assert notice.subject == "[BETWEEN CHECKS:1] g: CpuSaturated (fired and resolved)"
    config = Config.model_validate(
        {"smtp": {"outbox_dir": str(tmp_path), "to": "ops@stackwatch.test"}}
    )
    text, html = MailRenderer(config).render(notice, NOW)
    fired = datetime.fromtimestamp(window.start + 360, tz=UTC).strftime("%H:%M:%S")
    assert "fired and resolved again" in text
    assert "not firing now; this is the only mail about it" in text
    assert (
        f"Fired at {datetime.fromtimestamp(window.start + 360, tz=UTC):%Y-%m-%d} {fired} UTC"
        in text
    )
    assert "peak value 99" in text
    assert "firing for 30s" in text
    assert "Fired and resolved between checks (1)" in html
    message = MailRenderer(config).compose(notice, Mailer(config.smtp), NOW)
    assert message["X-Stackwatch-Status"] == "between-checks"
    assert timedelta(seconds=episode.resolved_at - episode.fired_at) == timedelta(seconds=30)


def test_what_ended_before_the_previous_evaluation_was_judged_by_it() -> None:
    # a manual run a minute after the last: the window still covers for, back before it
    recent = span_window(RULE, NOW, NOW - 60, max_span=6 * 3600, resolution=STEP)
    offset = NOW - 60 - recent.start
    earlier = Series(
        {"host": "db-1", **TARGET},
        [(recent.start + t, 95.0) for t in range(0, int(offset) - 30, int(STEP))],
    )
    result = evaluate_span(replace(RULE, for_=30.0), [earlier], [], recent, previous=NOW - 60)
    assert result.episodes == ()


def test_an_alert_seen_before_the_previous_evaluation_goes_on_from_its_start() -> None:
    recent = span_window(RULE, NOW, NOW - 60, max_span=6 * 3600, resolution=STEP)
    began = NOW - 200  # after the window's start, before the previous evaluation
    series = Series(
        {"host": "db-1", **TARGET},
        [(t, 95.0) for t in (recent.start + k * STEP for k in range(40)) if began <= t <= NOW],
    )
    [fresh] = evaluate_rule(RULE, [series], [], NOW, recent)
    pending = replace(fresh, state=PENDING, active_since=began, last_seen=NOW - 60)
    result = evaluate_span(RULE, [series], [pending], recent, previous=NOW - 60)
    assert (result.episodes, result.ended, result.restarted) == ((), {}, frozenset())
    [alert] = evaluate_rule(RULE, [series], [pending], NOW, recent, fired_when_held=True)
    assert alert.active_since == pending.active_since


def test_the_daily_report_lists_episodes_between_checks_with_the_others(tmp_path: Path) -> None:
    window = span()
    [episode] = evaluate_span(RULE, [held((60, 375), peak_at=120)], [], window).episodes
    config = Config.model_validate({"state": {"path": str(tmp_path / "state.db")}})
    with AlertStore(config.state.path) as store:
        store.save_episodes([episode])
    ctx = Context(config, datetime.fromtimestamp(NOW, tz=UTC), "Prometheus: not needed", None)
    section = gate(alerts_section.SECTION, ctx)
    assert section.lines == [
        "0 firing now; 1 fired and resolved in 24 h (1 of them between two checks)."
    ]
    [table] = section.tables
    [row] = table.rows
    assert row[0] == "CpuSaturated (between checks)"
    assert row[4:6] == ["30 s", "99"]


def test_an_aggregation_is_judged_on_the_steps_at_which_anything_was_scraped() -> None:
    window = span()
    # Prometheus itself held nothing from 150 s to 240 s: no `up` at all there
    points = [(window.start + t, 1.0) for t in range(0, 901, int(STEP)) if not 150 <= t <= 240]
    coverage = Coverage.from_up([Series({"__name__": "up", **TARGET}, points)])
    total = Series({}, [(ts, 95.0) for ts, _ in points if ts - window.start <= 420])
    [episode] = evaluate_span(RULE, [total], [], window, coverage=coverage).episodes
    assert (episode.active_since, episode.resolved_at) == (window.start, window.start + 435)
    # `absent()` is 1 while nothing is held: those steps hold no condition
    absent = Series({}, [(window.start + t, 1.0) for t in range(150, 241, int(STEP))])
    assert evaluate_span(RULE, [absent], [], window, coverage=coverage).episodes == ()
