"""Evaluation, notification policy and the state store, on query results as the client parses
them (no servers)."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerter.check_result import AlertStatus, CheckResult
from alerter.evaluate import evaluate_rule, window_for
from alerter.model import FIRING, PENDING, RESOLVED, AlertState
from alerter.notify import MailRenderer, Notification, plan_notification
from alerter.rules import Rule
from alerter.silences import parse_matcher
from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.prometheus import Series

NOW = 1_800_000_000.0
SLOW = Rule(
    alert="SlowBurn",
    expr="test_value > 0",
    group="g",
    for_=60.0,
    labels={"severity": "warning"},
    annotations={"summary": "{{ $labels.host }} at {{ $value }}"},
)


def series(start: float, end: float, step: float, value: float = 1.0, host: str = "db-1") -> Series:
    points = []
    t = start
    while t <= end + 1e-6:
        points.append((t, value))
        t += step
    return Series({"__name__": "test_value", "host": host}, points)


def test_window_covers_for_with_bounded_points() -> None:
    window = window_for(SLOW, NOW)
    assert (window.end, window.step) == (NOW, 1.0)
    assert window.start <= NOW - 60
    assert (window.end - window.start) / window.step <= 61
    long = window_for(replace(SLOW, for_=3600.0), NOW)
    assert long.step == 60.0
    assert window_for(replace(SLOW, for_=0.0), NOW).instant


def test_condition_younger_than_for_is_pending() -> None:
    window = window_for(SLOW, NOW)
    [alert] = evaluate_rule(SLOW, [series(NOW - 30, NOW, 1.0)], [], NOW, window)
    assert alert.state == PENDING
    assert alert.active_since == NOW - 30
    assert alert.labels == {"alertname": "SlowBurn", "host": "db-1", "severity": "warning"}
    assert alert.annotations == {"summary": "db-1 at 1"}


def test_condition_held_over_the_window_fires_at_once() -> None:
    window = window_for(SLOW, NOW)
    [alert] = evaluate_rule(SLOW, [series(window.start, NOW, 1.0)], [], NOW, window)
    assert alert.state == FIRING
    assert alert.fired_at == NOW


def test_gap_restarts_the_clock() -> None:
    window = window_for(SLOW, NOW)
    broken = Series(
        {"host": "db-1"},
        [*series(window.start, NOW - 40, 1.0).values, *series(NOW - 20, NOW, 1.0).values],
    )
    [alert] = evaluate_rule(SLOW, [broken], [], NOW, window)
    assert (alert.state, alert.active_since) == (PENDING, NOW - 20)


def test_pending_becomes_firing_and_keeps_its_start() -> None:
    window = window_for(SLOW, NOW)
    [pending] = evaluate_rule(SLOW, [series(NOW - 30, NOW, 1.0)], [], NOW, window)
    later = NOW + 600
    window2 = window_for(SLOW, later)
    [alert] = evaluate_rule(SLOW, [series(window2.start, later, 1.0)], [pending], later, window2)
    assert alert.state == FIRING
    assert alert.active_since == NOW - 30


def test_pending_that_ends_is_dropped() -> None:
    window = window_for(SLOW, NOW)
    [pending] = evaluate_rule(SLOW, [series(NOW - 30, NOW, 1.0)], [], NOW, window)
    assert evaluate_rule(SLOW, [], [pending], NOW + 60, window_for(SLOW, NOW + 60)) == []


def test_firing_resolves_when_the_condition_ends() -> None:
    window = window_for(SLOW, NOW)
    [firing] = evaluate_rule(SLOW, [series(window.start, NOW, 1.0)], [], NOW, window)
    [alert] = evaluate_rule(SLOW, [], [firing], NOW + 60, window_for(SLOW, NOW + 60))
    assert (alert.state, alert.resolved_at, alert.fired_at) == (RESOLVED, NOW + 60, NOW)


def test_blind_evaluation_resolves_nothing() -> None:
    window = window_for(SLOW, NOW)
    [firing] = evaluate_rule(SLOW, [series(window.start, NOW, 1.0)], [], NOW, window)
    [alert] = evaluate_rule(SLOW, [], [firing], NOW + 60, window_for(SLOW, NOW + 60), blind=True)
    assert alert.state == FIRING
    assert alert == firing


def test_keep_firing_for_bridges_a_short_gap() -> None:
    rule = replace(SLOW, for_=0.0, keep_firing_for=120.0)
    window = window_for(rule, NOW)
    [firing] = evaluate_rule(rule, [series(window.start, NOW, 1.0)], [], NOW, window)
    assert firing.state == FIRING
    t1 = NOW + 60
    gone = series(window_for(rule, t1).start, NOW, 2.0)  # last seen at NOW
    [kept] = evaluate_rule(rule, [gone], [firing], t1, window_for(rule, t1))
    assert kept.state == FIRING
    t2 = NOW + 150
    [ended] = evaluate_rule(rule, [], [kept], t2, window_for(rule, t2))
    assert ended.state == RESOLVED


def _firing(name: str, host: str = "h") -> AlertState:
    return AlertState(
        f"{name}-{host}", "g", name, {"alertname": name, "host": host}, {}, FIRING, 1.0, NOW, NOW
    )


def test_notification_policy_new_repeat_resolved() -> None:
    a = _firing("HighCpuUsage")
    note, states = plan_notification("g", [], [a], NOW, repeat_interval=3600, send_resolved=True)
    assert note is not None
    assert note.subject == "[FIRING:1] g: HighCpuUsage"
    [a] = states
    assert (a.notified, a.last_notified) == (True, NOW)

    note, states = plan_notification(
        "g", [a], [a], NOW + 60, repeat_interval=3600, send_resolved=True
    )
    assert note is None
    note, [a] = plan_notification(
        "g", [a], [a], NOW + 3600, repeat_interval=3600, send_resolved=True
    )
    assert note is not None
    assert note.subject == "[FIRING:1] g: HighCpuUsage"

    done = replace(a, state=RESOLVED, resolved_at=NOW + 4000)
    note, [after] = plan_notification(
        "g", [a], [done], NOW + 4000, repeat_interval=3600, send_resolved=True
    )
    assert note is not None
    assert note.subject == "[RESOLVED] g: HighCpuUsage"
    assert not after.notified
    quiet, _ = plan_notification(
        "g", [a], [done], NOW + 4000, repeat_interval=3600, send_resolved=False
    )
    assert quiet is None


def test_one_mail_per_group_with_every_change() -> None:
    cpu, disk = _firing("HighCpuUsage"), _firing("DiskAlmostFull", "nas")
    note, [cpu, disk] = plan_notification(
        "g", [], [cpu, disk], NOW, repeat_interval=3600, send_resolved=True
    )
    assert note is not None
    assert note.subject == "[FIRING:2] g: DiskAlmostFull, HighCpuUsage"
    mem = _firing("HighMemoryUsage")
    note, _ = plan_notification(
        "g",
        [cpu, disk],
        [cpu, replace(disk, state=RESOLVED, resolved_at=NOW + 1), mem],
        NOW + 1,
        repeat_interval=3600,
        send_resolved=True,
    )
    assert note is not None
    assert note.subject == "[FIRING:2] g: HighCpuUsage, HighMemoryUsage (resolved: DiskAlmostFull)"
    assert [a.alertname for a in note.new] == ["HighMemoryUsage"]


def test_silenced_alerts_are_not_mailed() -> None:
    a = replace(_firing("HighCpuUsage"), silenced_by=3)
    note, [kept] = plan_notification("g", [], [a], NOW, repeat_interval=3600, send_resolved=True)
    assert note is None
    assert not kept.notified
    note, _ = plan_notification(
        "g",
        [kept],
        [replace(kept, silenced_by=None)],
        NOW + 10,
        repeat_interval=3600,
        send_resolved=True,
    )
    assert note is not None


def test_resolved_only_subject_never_says_firing() -> None:
    note = Notification("g", (), (_firing("A"), _firing("B")))
    assert note.subject == "[RESOLVED] g: A, B"


def test_store_round_trip_history_and_silences(tmp_path: Path) -> None:
    path = tmp_path / "state" / "alerts.db"
    a = replace(_firing("HighCpuUsage"), annotations={"summary": "hot"}, notified=True)
    with AlertStore(path) as store:
        store.save_group("g", [a], NOW)
        assert store.group_states("g") == [a]
    with AlertStore(path) as store:  # survives a restart
        [record] = store.firing()
        assert (record.alertname, record.group, record.summary) == ("HighCpuUsage", "g", "hot")
        assert record.fired_at == datetime.fromtimestamp(NOW, tz=UTC)
        store.save_group("g", [replace(a, state=RESOLVED, resolved_at=NOW + 60)], NOW + 60)
        # fires again later: a second episode
        store.save_group("g", [replace(a, fired_at=NOW + 120, active_since=NOW + 120)], NOW + 120)
        history = store.history(datetime.fromtimestamp(NOW - 10, tz=UTC))
        assert [(h.state, h.resolved_at is not None) for h in history] == [
            ("resolved", True),
            ("firing", False),
        ]
        assert store.history(datetime.fromtimestamp(NOW + 100, tz=UTC))[0].state == "firing"

        start = datetime.fromtimestamp(NOW, tz=UTC)
        silence = store.add_silence(
            [parse_matcher("alertname=~High.*")],
            start,
            start + timedelta(hours=2),
            "maintenance",
            "ops",
        )
        assert [s.id for s in store.silences(now=start)] == [silence.id]
        assert silence.matches({"alertname": "HighCpuUsage"})
        expired = store.expire_silence(silence.id, now=start + timedelta(minutes=5))
        assert not expired.active(start + timedelta(minutes=6))
        assert store.silences(now=start + timedelta(minutes=6)) == []


def _open_store(path: str, start: Any, errors: Any) -> None:
    start.wait()
    try:
        AlertStore(Path(path)).close()
    except Exception as exc:
        errors.put(str(exc))


def test_processes_opening_a_new_database_together_all_succeed(tmp_path: Path) -> None:
    """Flows starting in the same minute on a fresh install each open the new database."""
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    for attempt in range(10):
        path = tmp_path / f"state-{attempt}.db"
        start = context.Barrier(6)
        openers = [
            context.Process(target=_open_store, args=(str(path), start, errors)) for _ in range(6)
        ]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(60)
            assert opener.exitcode == 0
    assert errors.empty(), errors.get()


def test_outbox_claims_are_exclusive(tmp_path: Path) -> None:
    with AlertStore(tmp_path / "a.db") as one, AlertStore(tmp_path / "a.db") as two:
        mail_id = one.enqueue("g", "[FIRING:1] g: A", b"Subject: x\r\n\r\nbody", NOW)
        assert one.claim(mail_id, NOW, 60)
        assert not two.claim(mail_id, NOW + 1, 60)
        one.mark_failed(mail_id, "connection refused")
        assert two.claim(mail_id, NOW + 2, 60)
        two.mark_sent(mail_id, NOW + 3)
        assert not one.claim(mail_id, NOW + 200, 60)
        assert one.queued_count() == 0


def test_markdown_summary() -> None:
    result = CheckResult(
        group="threshold-alert-check",
        alerts=[
            AlertStatus(
                "HighCpuUsage",
                {"alertname": "HighCpuUsage", "instance": "a|b"},
                "firing",
                0.93,
                datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                "CPU at 93%",
            )
        ],
        sent=["[FIRING:1] threshold-alert-check: HighCpuUsage"],
        queued=0,
        blind=False,
        errors=[],
    )
    assert result.to_markdown().splitlines() == [
        "### threshold-alert-check",
        "",
        "| Alert | State | Labels | Value | Active since | Summary |",
        "|---|---|---|---|---|---|",
        "| HighCpuUsage | firing | instance=a\\|b | 0.93 | 2026-01-02 03:04 UTC | CPU at 93% |",
        "",
        "Sent: [FIRING:1] threshold-alert-check: HighCpuUsage",
        "Queued in the outbox: 0",
    ]


def test_mail_templates_can_be_overridden(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "alert.txt.j2").write_text(
        "{{ subject }}\n{% for a in firing %}{{ a.alertname }}={{ a.value }}\n{% endfor %}"
    )
    config = Config.model_validate({"rules": {"templates_dir": str(folder)}})
    note = Notification("g", (replace(_firing("HighCpuUsage"), value=0.93),), ())
    text, html = MailRenderer(config).render(note, NOW)
    assert text == "[FIRING:1] g: HighCpuUsage\nHighCpuUsage=0.93\n"
    assert "<h2" in html  # the built-in HTML template, since only the text one is overridden

    (folder / "alert.txt.j2").write_text("{{ no_such_thing.attr }}")
    text, _ = MailRenderer(config).render(note, NOW)
    assert text.startswith("[FIRING:1] g: HighCpuUsage\n\nFIRING (1)")  # falls back, still mails
