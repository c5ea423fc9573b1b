"""Alert instances and their firing episodes in the state database."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerter.between import Episode
from alerter.model import FIRING, RESOLVED, STATES, AlertState
from alerter.store.database import Database, to_datetime


@dataclass(frozen=True)
class AlertRecord:
    """An alert instance (or one firing episode of it) as reports and the CLI read it."""

    alertname: str
    group: str
    labels: dict[str, str]
    state: str
    value: float | None
    active_since: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    summary: str
    fingerprint: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    silenced: bool = False
    last_notified: datetime | None = None
    between_checks: bool = False  # fired and resolved between two evaluations
    peak: float | None = None


def _real(value: float | None) -> float | None:
    # SQLite stores NaN as NULL anyway; keep that explicit
    if value is None or value != value:
        return None
    return value


def _state(row: sqlite3.Row) -> AlertState:
    return AlertState(
        fingerprint=row["fingerprint"],
        group=row["grp"],
        alertname=row["alertname"],
        labels=json.loads(row["labels"]),
        annotations=json.loads(row["annotations"]),
        state=row["state"],
        value=row["value"],
        active_since=row["active_since"],
        fired_at=row["fired_at"],
        resolved_at=row["resolved_at"],
        last_seen=row["last_seen"],
        last_notified=row["last_notified"],
        notified=bool(row["notified"]),
        silenced_by=row["silenced_by"],
        expr=row["expr"],
    )


def _record(row: sqlite3.Row) -> AlertRecord:
    keys = row.keys()
    annotations = json.loads(row["annotations"]) if "annotations" in keys else {}
    summary = (
        row["summary"]
        if "summary" in keys
        else (annotations.get("summary") or annotations.get("description", ""))
    )
    return AlertRecord(
        alertname=row["alertname"],
        group=row["grp"],
        labels=json.loads(row["labels"]),
        state=row["state"],
        value=row["value"],
        active_since=to_datetime(row["active_since"]),
        fired_at=to_datetime(row["fired_at"]),
        resolved_at=to_datetime(row["resolved_at"]),
        summary=summary,
        fingerprint=row["fingerprint"],
        annotations=annotations,
        silenced=bool(row["silenced_by"]) if "silenced_by" in keys else False,
        last_notified=to_datetime(row["last_notified"]) if "last_notified" in keys else None,
        between_checks=bool(row["between_checks"]) if "between_checks" in keys else False,
        peak=row["peak"] if "peak" in keys else None,
    )


def _save_alert(db: sqlite3.Connection, s: AlertState, now: float) -> None:
    db.execute(
        """INSERT INTO alerts (fingerprint, grp, alertname, labels, annotations, expr,
               state, value, active_since, fired_at, resolved_at, last_seen,
               last_notified, notified, silenced_by, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (fingerprint) DO UPDATE SET
               annotations = excluded.annotations, expr = excluded.expr,
               state = excluded.state, value = excluded.value,
               active_since = excluded.active_since, fired_at = excluded.fired_at,
               resolved_at = excluded.resolved_at, last_seen = excluded.last_seen,
               last_notified = excluded.last_notified,
               notified = excluded.notified, silenced_by = excluded.silenced_by,
               updated_at = excluded.updated_at""",
        (
            s.fingerprint,
            s.group,
            s.alertname,
            json.dumps(dict(s.labels)),
            json.dumps(dict(s.annotations)),
            s.expr,
            s.state,
            _real(s.value),
            s.active_since,
            s.fired_at,
            s.resolved_at,
            s.last_seen,
            s.last_notified,
            int(s.notified),
            s.silenced_by,
            now,
        ),
    )


def _save_episode(db: sqlite3.Connection, s: AlertState) -> None:
    db.execute(
        """INSERT INTO episodes (fingerprint, fired_at, grp, alertname, labels,
               summary, value, active_since, resolved_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (fingerprint, fired_at) DO UPDATE SET
               summary = excluded.summary,
               value = coalesce(excluded.value, episodes.value),
               resolved_at = excluded.resolved_at""",
        (
            s.fingerprint,
            s.fired_at,
            s.group,
            s.alertname,
            json.dumps(dict(s.labels)),
            s.summary,
            _real(s.value),
            s.active_since,
            s.resolved_at,
        ),
    )


def _save_between(db: sqlite3.Connection, e: Episode) -> bool:
    """Record an episode that ended between evaluations; False when it was known already."""
    if e.continued:  # the end of an episode the store holds: it resolved
        db.execute(
            "UPDATE episodes SET resolved_at = ?, peak = max(coalesce(peak, ?), ?),"
            " between_checks = 1 WHERE fingerprint = ? AND fired_at = ?",
            (e.resolved_at, _real(e.peak), _real(e.peak), e.fingerprint, e.fired_at),
        )
    cursor = db.execute(
        """INSERT INTO episodes (fingerprint, fired_at, grp, alertname, labels, summary,
               value, active_since, resolved_at, peak, between_checks)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
           ON CONFLICT (fingerprint, fired_at) DO NOTHING""",
        (
            e.fingerprint,
            e.fired_at,
            e.group,
            e.alertname,
            json.dumps(dict(e.labels)),
            e.summary,
            _real(e.peak),
            e.active_since,
            e.resolved_at,
            _real(e.peak),
        ),
    )
    return bool(cursor.rowcount) or e.continued


class AlertTables(Database):
    """Alert instances by group, and the episodes (fired → resolved) that history reads."""

    def group_states(self, group: str) -> list[AlertState]:
        rows = self._db.execute(
            "SELECT * FROM alerts WHERE grp = ? ORDER BY alertname, labels", (group,)
        ).fetchall()
        return [_state(row) for row in rows]

    def save_group(self, group: str, states: Sequence[AlertState], now: float) -> None:
        """Replace the group's instances with ``states`` (absent ones are deleted)."""
        with self.transaction() as db:
            keep = {s.fingerprint for s in states}
            for (fp,) in db.execute("SELECT fingerprint FROM alerts WHERE grp = ?", (group,)):
                if fp not in keep:
                    db.execute("DELETE FROM alerts WHERE fingerprint = ?", (fp,))
            for s in states:
                _save_alert(db, s, now)
                if s.fired_at is not None and s.state in (FIRING, RESOLVED):
                    _save_episode(db, s)

    def save_episodes(self, episodes: Sequence[Episode]) -> list[Episode]:
        """Record episodes that fired and resolved between evaluations; returns those not
        known before (an evaluation that looks again at the same time finds them again)."""
        with self.transaction() as db:
            return [e for e in episodes if _save_between(db, e)]

    def alerts(self, states: Sequence[str] = STATES, group: str | None = None) -> list[AlertRecord]:
        marks = ", ".join("?" for _ in states)
        sql = f"SELECT * FROM alerts WHERE state IN ({marks})"  # noqa: S608 - placeholders only
        params: list[Any] = list(states)
        if group is not None:
            sql += " AND grp = ?"
            params.append(group)
        rows = self._db.execute(sql + " ORDER BY grp, alertname, labels", params).fetchall()
        return [_record(row) for row in rows]

    def firing(self) -> list[AlertRecord]:
        """Alerts firing now, silenced ones included (``silenced`` says so)."""
        return self.alerts((FIRING,))

    def history(self, since: datetime) -> list[AlertRecord]:
        """Every firing episode that was open at any time since ``since``, resolved ones too."""
        rows = self._db.execute(
            """SELECT *, CASE WHEN resolved_at IS NULL THEN 'firing' ELSE 'resolved' END AS state
               FROM episodes WHERE resolved_at IS NULL OR resolved_at >= ?
               ORDER BY fired_at, grp, alertname""",
            (since.timestamp(),),
        ).fetchall()
        return [_record(row) for row in rows]

    @staticmethod
    def _forget_resolved(db: sqlite3.Connection, cutoff: float) -> int:
        removed = db.execute(
            "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?", (cutoff,)
        ).rowcount
        removed += db.execute("DELETE FROM episodes WHERE resolved_at < ?", (cutoff,)).rowcount
        return int(removed)
