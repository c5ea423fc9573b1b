"""Durable alert state in SQLite (WAL): alert instances, firing episodes, the mail outbox, silences.

Every read-modify-write of a group's state runs in one ``BEGIN IMMEDIATE`` transaction, so two
evaluations at once serialise instead of both sending the same notification.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerter.errors import AlerterError
from alerter.evaluate import FIRING, RESOLVED, AlertState
from alerter.silences import Matcher, Silence, SilenceError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint   TEXT PRIMARY KEY,
    grp           TEXT NOT NULL,
    alertname     TEXT NOT NULL,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    expr          TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    value         REAL,
    active_since  REAL,
    fired_at      REAL,
    resolved_at   REAL,
    last_seen     REAL,
    last_notified REAL,
    notified      INTEGER NOT NULL DEFAULT 0,
    silenced_by   INTEGER,
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_group ON alerts (grp, state);
CREATE TABLE IF NOT EXISTS episodes (
    fingerprint  TEXT NOT NULL,
    fired_at     REAL NOT NULL,
    grp          TEXT NOT NULL,
    alertname    TEXT NOT NULL,
    labels       TEXT NOT NULL,
    summary      TEXT NOT NULL,
    value        REAL,
    active_since REAL,
    resolved_at  REAL,
    PRIMARY KEY (fingerprint, fired_at)
);
CREATE INDEX IF NOT EXISTS episodes_resolved ON episodes (resolved_at);
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    grp         TEXT NOT NULL,
    subject     TEXT NOT NULL,
    message     BLOB NOT NULL,
    created_at  REAL NOT NULL,
    sent_at     REAL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS outbox_queued ON outbox (sent_at, id);
CREATE TABLE IF NOT EXISTS silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers   TEXT NOT NULL,
    starts_at  REAL NOT NULL,
    ends_at    REAL NOT NULL,
    comment    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class StoreError(AlerterError):
    """The state database cannot be opened or written."""


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=UTC) if ts is not None else None


def _ts(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


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


@dataclass(frozen=True)
class QueuedMail:
    """A notification in the outbox: the exact bytes that will be handed to SMTP."""

    id: int
    group: str
    subject: str
    message: bytes
    created_at: datetime
    attempts: int
    last_error: str | None


def _enable_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL, waiting out other processes doing the same on a new database.

    Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked"
    at once, without its busy handler, when another connection holds one: two flows starting
    together on a fresh install would otherwise fail.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class AlertStore:
    """The SQLite state database; use as a context manager or call ``close()``."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            _enable_wal(self._db, timeout)
            self._db.execute("PRAGMA synchronous=NORMAL")
            # one script, one transaction: concurrent first starts create the schema once
            self._db.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}"  # noqa: S608 - constants only
                "INSERT OR IGNORE INTO meta (key, value) "
                f"VALUES ('schema_version', '{SCHEMA_VERSION}');COMMIT;"
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open state database {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: writers queue up here instead of failing mid-way."""
        if self._db.in_transaction:
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- alert instances --------------------------------------------------------------------

    @staticmethod
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

    def group_states(self, group: str) -> list[AlertState]:
        rows = self._db.execute(
            "SELECT * FROM alerts WHERE grp = ? ORDER BY alertname, labels", (group,)
        ).fetchall()
        return [self._state(row) for row in rows]

    def save_group(self, group: str, states: Sequence[AlertState], now: float) -> None:
        """Replace the group's instances with ``states`` (absent ones are deleted)."""
        with self.transaction() as db:
            keep = {s.fingerprint for s in states}
            for (fp,) in db.execute("SELECT fingerprint FROM alerts WHERE grp = ?", (group,)):
                if fp not in keep:
                    db.execute("DELETE FROM alerts WHERE fingerprint = ?", (fp,))
            for s in states:
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
                if s.fired_at is not None and s.state in (FIRING, RESOLVED):
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

    @staticmethod
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
            active_since=_dt(row["active_since"]),
            fired_at=_dt(row["fired_at"]),
            resolved_at=_dt(row["resolved_at"]),
            summary=summary,
            fingerprint=row["fingerprint"],
            annotations=annotations,
            silenced=bool(row["silenced_by"]) if "silenced_by" in keys else False,
            last_notified=_dt(row["last_notified"]) if "last_notified" in keys else None,
        )

    def alerts(
        self, states: Sequence[str] = ("pending", "firing", "resolved"), group: str | None = None
    ) -> list[AlertRecord]:
        marks = ", ".join("?" for _ in states)
        sql = f"SELECT * FROM alerts WHERE state IN ({marks})"  # noqa: S608 - placeholders only
        params: list[Any] = list(states)
        if group is not None:
            sql += " AND grp = ?"
            params.append(group)
        rows = self._db.execute(sql + " ORDER BY grp, alertname, labels", params).fetchall()
        return [self._record(row) for row in rows]

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
        return [self._record(row) for row in rows]

    def prune(self, before: datetime) -> int:
        """Forget resolved alerts, episodes and sent mail that ended before ``before``."""
        cutoff = before.timestamp()
        with self.transaction() as db:
            removed = db.execute(
                "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?", (cutoff,)
            ).rowcount
            removed += db.execute("DELETE FROM episodes WHERE resolved_at < ?", (cutoff,)).rowcount
            removed += db.execute("DELETE FROM outbox WHERE sent_at < ?", (cutoff,)).rowcount
            db.execute("DELETE FROM silences WHERE ends_at < ?", (cutoff,))
        return int(removed)

    # --- outbox -------------------------------------------------------------------------------

    def enqueue(self, group: str, subject: str, message: bytes, now: float) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO outbox (grp, subject, message, created_at) VALUES (?, ?, ?, ?)",
                (group, subject, message, now),
            )
        return int(cursor.lastrowid or 0)

    def queued(self) -> list[QueuedMail]:
        rows = self._db.execute("SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id").fetchall()
        return [
            QueuedMail(
                row["id"],
                row["grp"],
                row["subject"],
                bytes(row["message"]),
                _dt(row["created_at"]) or datetime.now(tz=UTC),
                row["attempts"],
                row["last_error"],
            )
            for row in rows
        ]

    def queued_count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
        return int(row[0])

    def claim(self, mail_id: int, now: float, lease: float) -> bool:
        """Take a queued mail for delivery; false if another run holds or already sent it."""
        with self.transaction() as db:
            cursor = db.execute(
                """UPDATE outbox SET lease_until = ?, attempts = attempts + 1
                   WHERE id = ? AND sent_at IS NULL AND (lease_until IS NULL OR lease_until < ?)""",
                (now + lease, mail_id, now),
            )
        return cursor.rowcount == 1

    def mark_sent(self, mail_id: int, now: float) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET sent_at = ?, lease_until = NULL, last_error = NULL WHERE id = ?",
                (now, mail_id),
            )

    def mark_failed(self, mail_id: int, error: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET lease_until = NULL, last_error = ? WHERE id = ?",
                (error, mail_id),
            )

    # --- silences -----------------------------------------------------------------------------

    @staticmethod
    def _silence(row: sqlite3.Row) -> Silence:
        return Silence(
            id=row["id"],
            matchers=tuple(Matcher(*m) for m in json.loads(row["matchers"])),
            starts_at=_dt(row["starts_at"]) or datetime.now(tz=UTC),
            ends_at=_dt(row["ends_at"]) or datetime.now(tz=UTC),
            comment=row["comment"],
            created_by=row["created_by"],
            created_at=_dt(row["created_at"]) or datetime.now(tz=UTC),
        )

    def add_silence(
        self,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        comment: str,
        created_by: str,
    ) -> Silence:
        if not matchers:
            raise SilenceError("a silence needs at least one matcher")
        if ends_at <= starts_at:
            raise SilenceError("a silence must end after it starts")
        now = datetime.now(tz=UTC).timestamp()
        with self.transaction() as db:
            cursor = db.execute(
                """INSERT INTO silences (matchers, starts_at, ends_at, comment, created_by,
                       created_at) VALUES (?, ?, ?, ?, ?, ?)""",
                (
                    json.dumps([[m.name, m.op, m.value] for m in matchers]),
                    starts_at.timestamp(),
                    ends_at.timestamp(),
                    comment,
                    created_by,
                    now,
                ),
            )
        row = self._db.execute(
            "SELECT * FROM silences WHERE id = ?", (cursor.lastrowid,)
        ).fetchone()
        return self._silence(row)

    def silences(
        self, *, include_expired: bool = False, now: datetime | None = None
    ) -> list[Silence]:
        moment = (now or datetime.now(tz=UTC)).timestamp()
        sql = "SELECT * FROM silences"
        params: tuple[Any, ...] = ()
        if not include_expired:
            sql += " WHERE ends_at > ?"
            params = (moment,)
        return [self._silence(r) for r in self._db.execute(sql + " ORDER BY id", params)]

    def expire_silence(self, silence_id: int, now: datetime | None = None) -> Silence:
        moment = (now or datetime.now(tz=UTC)).timestamp()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM silences WHERE id = ?", (silence_id,)).fetchone()
            if row is None:
                raise SilenceError(f"no silence with id {silence_id}")
            if row["ends_at"] > moment:
                db.execute(
                    "UPDATE silences SET ends_at = ?, starts_at = min(starts_at, ?) WHERE id = ?",
                    (moment, moment, silence_id),
                )
            row = db.execute("SELECT * FROM silences WHERE id = ?", (silence_id,)).fetchone()
        return self._silence(row)


def _real(value: float | None) -> float | None:
    # SQLite stores NaN as NULL anyway; keep that explicit
    if value is None or value != value:
        return None
    return value
