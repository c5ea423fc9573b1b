"""The weekly cleanup forgets old alert history and keeps what is still live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerter.model import FIRING, RESOLVED, AlertState
from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.reports.cleanup import run_weekly_cleanup


def alert(fingerprint: str, state: str, ended: float | None, now: float) -> AlertState:
    return AlertState(
        fingerprint=fingerprint,
        group="host",
        alertname=fingerprint,
        labels={"alertname": fingerprint},
        annotations={},
        state=state,
        value=1.0,
        active_since=now - 200 * 86400,
        fired_at=now - 200 * 86400,
        resolved_at=ended,
        last_seen=ended or now,
    )


def test_old_resolved_alerts_go_firing_and_recent_ones_stay(tmp_path: Path) -> None:
    now = datetime.now(tz=UTC)
    t = now.timestamp()
    db = tmp_path / "stackwatch.db"
    with AlertStore(db) as store:
        store.save_group(
            "host",
            [
                alert("OldResolved", RESOLVED, t - 120 * 86400, t),
                alert("RecentResolved", RESOLVED, t - 10 * 86400, t),
                alert("StillFiring", FIRING, None, t),
            ],
            t,
        )
    config = Config.model_validate(
        {
            "state": {"path": str(db)},
            "docker": {"enabled": False},
            "cleanup": {"docker": {"enabled": False}, "alert_history": "90d"},
        }
    )

    preview = run_weekly_cleanup(config, dry_run=True, now=now)
    [step] = [s for s in preview.steps if s.name == "Alert database: old history"]
    assert step.ok
    assert not step.removed
    with AlertStore(db) as store:
        assert len(store.history(now - timedelta(days=365))) == 3

    report = run_weekly_cleanup(config, now=now)
    [step] = [s for s in report.steps if s.name == "Alert database: old history"]
    assert step.ok
    assert step.removed
    assert step.removed[0].startswith("2 record(s)")
    assert "Alert database: old history" in report.text
    with AlertStore(db) as store:
        names = {record.alertname for record in store.history(now - timedelta(days=365))}
        assert names == {"RecentResolved", "StillFiring"}
        assert [record.alertname for record in store.firing()] == ["StillFiring"]


def test_no_database_yet_is_skipped_not_failed(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"state": {"path": str(tmp_path / "none.db")}, "cleanup": {"docker": {"enabled": False}}}
    )
    report = run_weekly_cleanup(config, now=datetime.now(tz=UTC))
    [step] = [s for s in report.steps if s.name == "Alert database: old history"]
    assert step.ok
    assert step.skipped == f"no alert database at {tmp_path / 'none.db'}"
