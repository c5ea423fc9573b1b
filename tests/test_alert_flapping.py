"""Flap detection and flow-failure streaks on their own: the pure policy on alert states, the
store's change history (bounded), the failing streaks, and the schema migration to them."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from alerter.flapping import FlapHistory, FlapRecord, MailPlan, plan_mail
from alerter.model import BLIND_ALERT, FIRING, RESOLVED, AlertState, fingerprint
from alerter.notify import FlapNotice, Notification
from alerter.store import SCHEMA_VERSION, AlertStore
from alerter.store.flow_failures import FIRST, REMINDER
from stackwatch.config.sections import FlappingConfig

GROUP = "g"
FLAPPING = FlappingConfig(changes=2, window=3600, settle=600)
NOW = 1_764_000_000.0
V2_DUMP = Path(__file__).parent / "fixtures" / "state" / "schema-v2.sql"


def _alert(state: str, name: str = "QueueDeep", **fields: object) -> AlertState:
    labels = {"alertname": name, "queue": "jobs"}
    return AlertState(
        fingerprint=fingerprint(GROUP, labels),
        group=GROUP,
        alertname=name,
        labels=labels,
        annotations={"summary": "deep"},
        state=state,
        value=50.0 if state == FIRING else None,
        active_since=NOW,
        fired_at=NOW,
        resolved_at=NOW if state == RESOLVED else None,
        **fields,  # type: ignore[arg-type]
    )


class Evaluations:
    """Feeds plan_mail one evaluation after another, keeping states and history as the store
    would (without the database)."""

    def __init__(self, flapping: FlappingConfig = FLAPPING) -> None:
        self.flapping = flapping
        self.states: list[AlertState] = []
        self.changes: dict[str, list[float]] = {}
        self.records: dict[str, FlapRecord] = {}

    def run(self, current: list[AlertState], at: float, blind: bool = False) -> list[str]:
        since = at - self.flapping.window
        history = FlapHistory(
            {fp: [t for t in ts if t > since] for fp, ts in self.changes.items()},
            self.records,
        )
        plan: MailPlan = plan_mail(
            GROUP,
            self.states,
            current,
            history,
            at,
            flapping=self.flapping,
            repeat_interval=4 * 3600,
            send_resolved=True,
            blind=blind,
        )
        for fp, _state in plan.update.changes:
            self.changes.setdefault(fp, []).append(at)
        for record in plan.update.records:
            self.records[record.fingerprint] = record
        for fp in plan.update.ended:
            self.records.pop(fp, None)
            self.changes.pop(fp, None)
        # the evaluation drops resolved instances one evaluation later, as evaluate_rule does
        self.states = plan.states
        self.plan = plan
        return [m.subject for m in plan.mails]

    def next_states(self, firing: bool) -> list[AlertState]:
        kept = [s for s in self.states if s.state != RESOLVED]
        old = {s.fingerprint: s for s in kept}
        fp = _alert(FIRING).fingerprint
        if firing:
            before = old.get(fp)
            if before is not None:
                return [before]
            return [_alert(FIRING)]
        if fp in old:
            return [replace(old[fp], state=RESOLVED, resolved_at=NOW)]
        return []


def _flip(evaluations: Evaluations, count: int, start: float = NOW) -> list[list[str]]:
    return [
        evaluations.run(evaluations.next_states(firing=i % 2 == 0), start + i * 60)
        for i in range(count)
    ]


def test_more_changes_than_the_limit_mail_flapping_once_and_nothing_else_while_it_flaps() -> None:
    evaluations = Evaluations()
    mails = _flip(evaluations, 6)
    assert mails == [
        ["[FIRING:1] g: QueueDeep"],
        ["[RESOLVED] g: QueueDeep"],
        ["[FLAPPING] g: QueueDeep"],
        [],
        [],
        [],
    ]
    assert evaluations.plan.flapping == {_alert(FIRING).fingerprint}


def test_a_flapping_alert_is_never_reported_resolved_while_it_flaps() -> None:
    evaluations = Evaluations()
    _flip(evaluations, 3)  # flapping, mailed as firing
    for minute in range(1, 10):  # resolved now, within the settle period: nothing
        assert evaluations.run(evaluations.next_states(firing=False), NOW + 180 + minute * 60) == []
    # settled (10 min without change): one RESOLVED
    assert evaluations.run([], NOW + 180 + 600 + 120) == ["[RESOLVED] g: QueueDeep"]
    assert evaluations.run([], NOW + 180 + 600 + 180) == []


def test_a_flapping_alert_does_not_settle_while_the_group_is_blind() -> None:
    evaluations = Evaluations()
    _flip(evaluations, 3)  # flapping, mailed as firing
    assert evaluations.run(evaluations.next_states(firing=False), NOW + 180) == []
    blind_spell = [NOW + 180 + 600 + 60 * i for i in range(1, 4)]
    for at in blind_spell:  # the settle period has passed, but its data cannot be seen
        assert evaluations.run(evaluations.states, at, blind=True) == []
    assert evaluations.plan.flapping
    assert evaluations.run(evaluations.states, blind_spell[-1] + 60) == ["[RESOLVED] g: QueueDeep"]


def test_a_flap_that_settles_firing_after_it_was_mailed_not_firing_mails_firing() -> None:
    evaluations = Evaluations(FlappingConfig(changes=3, window=3600, settle=600))
    # the fourth change (to resolved) makes it flap: mailed as not firing
    assert _flip(evaluations, 4)[-1] == ["[FLAPPING] g: QueueDeep"]
    [notice] = evaluations.plan.mails
    assert isinstance(notice, FlapNotice)
    assert notice.alerts[0][0].state == RESOLVED
    assert evaluations.run(evaluations.next_states(firing=True), NOW + 4 * 60) == []
    settled = evaluations.run(evaluations.next_states(firing=True), NOW + 4 * 60 + 600)
    assert settled == ["[FIRING:1] g: QueueDeep"]
    # from now on the usual policy: still firing, not mailed again before repeat_interval
    assert evaluations.run(evaluations.next_states(firing=True), NOW + 4 * 60 + 660) == []


def test_the_flapping_mail_says_its_changes_window_and_state() -> None:
    evaluations = Evaluations()
    _flip(evaluations, 3)
    [notice] = evaluations.plan.mails
    assert isinstance(notice, FlapNotice)
    [(alert, changes)] = notice.alerts
    assert (alert.state, changes, notice.window, notice.settle) == (FIRING, 3, 3600, 600)


def test_changes_older_than_the_window_do_not_count() -> None:
    evaluations = Evaluations(FlappingConfig(changes=2, window=120, settle=60))
    mails = [
        evaluations.run(evaluations.next_states(firing=i % 2 == 0), NOW + i * 100) for i in range(6)
    ]
    assert all(not m or not m[0].startswith("[FLAPPING]") for m in mails), mails


def test_disabled_flap_detection_mails_every_change() -> None:
    evaluations = Evaluations(FlappingConfig(enabled=False))
    mails = _flip(evaluations, 4)
    assert [len(m) for m in mails] == [1, 1, 1, 1]
    assert not any(s.startswith("[FLAPPING]") for m in mails for s in m)


def test_monitoring_blind_is_never_judged_flapping() -> None:
    evaluations = Evaluations()
    blind = _alert(FIRING, name=BLIND_ALERT)
    mails = []
    for i in range(6):
        if i % 2 == 0:
            current = [blind]
        else:
            current = [replace(s, state=RESOLVED, resolved_at=NOW) for s in evaluations.states]
        mails.append(evaluations.run(current, NOW + i * 60))
    assert all(m and "FLAPPING" not in m[0] for m in mails), mails


def test_a_silenced_instance_that_flaps_mails_nothing() -> None:
    evaluations = Evaluations()
    silenced = _alert(FIRING, silenced_by=1)
    mails = [evaluations.run([silenced] if i % 2 == 0 else [], NOW + i * 60) for i in range(4)]
    assert mails == [[], [], [], []]


def test_regular_mail_of_the_group_goes_on_while_one_alert_flaps() -> None:
    evaluations = Evaluations()
    _flip(evaluations, 3)
    other = _alert(FIRING, name="DiskFull")
    mails = evaluations.run([*evaluations.next_states(firing=False), other], NOW + 240)
    assert mails == ["[FIRING:1] g: DiskFull"]
    [notification] = evaluations.plan.mails
    assert isinstance(notification, Notification)
    assert [a.alertname for a in notification.firing] == ["DiskFull"]


def test_the_store_keeps_changes_only_within_the_window(tmp_path: Path) -> None:
    evaluations = Evaluations()
    with AlertStore(tmp_path / "state.db") as store:
        prior: list[AlertState] = []
        for i in range(8):
            at = NOW + i * 1000
            current = evaluations.next_states(firing=i % 2 == 0)
            plan = plan_mail(
                GROUP,
                prior,
                current,
                store.flap_history(GROUP, at - FLAPPING.window),
                at,
                flapping=FlappingConfig(changes=100, window=2500, settle=60),
                repeat_interval=3600,
                send_resolved=True,
            )
            store.save_flapping(GROUP, plan.update, at, 2500)
            evaluations.states = prior = plan.states
        rows = store._db.execute("SELECT at FROM alert_changes ORDER BY at").fetchall()
        assert [r["at"] for r in rows] == [NOW + 5000, NOW + 6000, NOW + 7000]


def test_a_flow_failing_streak_is_mailed_once_reminded_then_recovered(tmp_path: Path) -> None:
    with AlertStore(tmp_path / "state.db") as store:
        streak, due = store.record_failure("f", "boom", NOW, repeat_interval=3600)
        assert (streak.failed_runs, due) == (1, FIRST)
        streak, due = store.record_failure("f", "boom", NOW + 60, repeat_interval=3600)
        assert (streak.failed_runs, streak.failing_since, due) == (2, NOW, None)
        streak, due = store.record_failure("f", "bang", NOW + 3600, repeat_interval=3600)
        assert (streak.failed_runs, due) == (3, REMINDER)
        store.mail_failed(streak, NOW)  # the reminder could not go out: the next run retries
        _, due = store.record_failure("f", "bang", NOW + 3660, repeat_interval=3600)
        assert due == REMINDER
        ended = store.record_success("f")
        assert ended is not None
        assert (ended.failed_runs, ended.last_error) == (4, "bang")
        assert store.record_success("f") is None
    with AlertStore(tmp_path / "state.db") as store:  # a new process starts afresh
        assert store.failing_flows() == []


def test_a_first_failure_mail_that_could_not_be_sent_is_tried_on_the_next_failure(
    tmp_path: Path,
) -> None:
    with AlertStore(tmp_path / "state.db") as store:
        streak, _ = store.record_failure("f", "boom", NOW, repeat_interval=3600)
        store.mail_failed(streak, None)
        streak, due = store.record_failure("f", "boom", NOW + 60, repeat_interval=3600)
        assert (due, streak.failed_runs) == (FIRST, 2)


def test_a_version_2_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(V2_DUMP.read_text())
    db.commit()
    db.close()
    with AlertStore(path) as store:
        [old] = store.group_states("g")
        assert (old.alertname, old.state, old.notified) == ("Old", FIRING, True)
        version = store._db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION) == "6"
        _, due = store.record_failure("f", "boom", NOW, repeat_interval=3600)  # new tables work
        assert due == FIRST
        assert store.flap_history("g", 0).flapping == {}
    with AlertStore(path) as store:  # opening again changes nothing
        assert [f.flow for f in store.failing_flows()] == ["f"]
