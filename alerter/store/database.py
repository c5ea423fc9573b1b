"""The state database's one SQLite connection: schema, WAL switch and write transactions."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from alerter.errors import AlerterError
from stackwatch.private import create_private, private_dirs

SCHEMA_VERSION = 6

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
    peak         REAL,
    between_checks INTEGER NOT NULL DEFAULT 0,
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
    lease_until REAL,
    next_attempt REAL,
    dead_at     REAL,
    pending_to  TEXT,
    dead_to     TEXT,
    alerts      TEXT,
    receiver    TEXT
);
CREATE INDEX IF NOT EXISTS outbox_queued ON outbox (sent_at, id);
CREATE TABLE IF NOT EXISTS notify_log (
    receiver   TEXT NOT NULL,
    group_key  TEXT NOT NULL,
    firing     TEXT NOT NULL,
    sent_at    REAL NOT NULL,
    PRIMARY KEY (receiver, group_key)
);
CREATE TABLE IF NOT EXISTS silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers   TEXT NOT NULL,
    starts_at  REAL NOT NULL,
    ends_at    REAL NOT NULL,
    comment    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_changes (
    fingerprint TEXT NOT NULL,
    grp         TEXT NOT NULL,
    at          REAL NOT NULL,
    state       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_changes_group ON alert_changes (grp, fingerprint, at);
CREATE TABLE IF NOT EXISTS flapping (
    fingerprint  TEXT PRIMARY KEY,
    grp          TEXT NOT NULL,
    since        REAL NOT NULL,
    last_change  REAL NOT NULL,
    changes      INTEGER NOT NULL,
    mailed_state TEXT NOT NULL,
    mailed_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flow_failures (
    flow          TEXT PRIMARY KEY,
    failing_since REAL NOT NULL,
    failed_runs   INTEGER NOT NULL,
    last_failed   REAL NOT NULL,
    last_error    TEXT NOT NULL,
    last_mailed   REAL
);
CREATE TABLE IF NOT EXISTS evaluations (
    grp          TEXT PRIMARY KEY,
    evaluated_at REAL NOT NULL,
    success      INTEGER NOT NULL,
    error        TEXT,
    covered_to   REAL
);
CREATE TABLE IF NOT EXISTS flow_runs (
    flow         TEXT PRIMARY KEY,
    last_success REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS watchdog (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    started_at     REAL NOT NULL,
    stopped        TEXT NOT NULL,
    alarmed        INTEGER NOT NULL,
    api_down_since REAL,
    mailed_at      REAL
);
"""


# each step takes the database from version N - 1 to N (index 0: from 1 to 2)
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # outbox: retry backoff, dead mail, recipients one by one, the alerts a mail reports
        "ALTER TABLE outbox ADD COLUMN next_attempt REAL",
        "ALTER TABLE outbox ADD COLUMN dead_at REAL",
        "ALTER TABLE outbox ADD COLUMN pending_to TEXT",
        "ALTER TABLE outbox ADD COLUMN dead_to TEXT",
        "ALTER TABLE outbox ADD COLUMN alerts TEXT",
    ),
    # alert_changes and flapping (flap detection), flow_failures (failure mail per streak):
    # new tables only, which the schema's CREATE TABLE IF NOT EXISTS makes
    (),
    # evaluations (each group's last evaluation), flow_runs (each flow's last success) and
    # watchdog (what it last mailed), for the freshness metrics and the watchdog: new tables
    (),
    # outbox.receiver (NULL: mail by smtp, else a notify.receivers name) and notify_log (what
    # each receiver was last told about each group)
    (
        "ALTER TABLE outbox ADD COLUMN receiver TEXT",
        """CREATE TABLE IF NOT EXISTS notify_log (
            receiver TEXT NOT NULL, group_key TEXT NOT NULL, firing TEXT NOT NULL,
            sent_at REAL NOT NULL, PRIMARY KEY (receiver, group_key))""",
    ),
    # episodes that fired and resolved between two evaluations (their peak value), and how
    # far each group's evaluations have looked: the next one covers the time since
    (
        "ALTER TABLE episodes ADD COLUMN peak REAL",
        "ALTER TABLE episodes ADD COLUMN between_checks INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE evaluations ADD COLUMN covered_to REAL",
    ),
)


class StoreError(AlerterError):
    """The state database cannot be opened or written."""


#: free space below which a failed write is put down to a full disk
_NEARLY_FULL = 256 * 1024


def disk_full(path: Path, exc: BaseException) -> StoreError | None:
    """A StoreError saying the disk is full when that is why ``exc`` happened, else None.

    SQLite says "database or disk is full" for its own writes but only "disk I/O error" when
    its WAL index cannot grow, so the free space is asked too.
    """
    full = getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or (
        getattr(exc, "errno", None) == errno.ENOSPC
    )
    if not full:
        try:
            stats = os.statvfs(path.parent)
        except OSError:
            return None
        full = stats.f_bavail * stats.f_frsize < _NEARLY_FULL
    return StoreError(f"state database {path}: the disk is full") if full else None


def to_datetime(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=UTC) if ts is not None else None


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


def _create_or_migrate(db: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new database, or bring an older one up to ``SCHEMA_VERSION``."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    fresh = (
        row is None
        and db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'outbox'").fetchone()[0]
        == 0
    )
    version = SCHEMA_VERSION if fresh else int(row[0]) if row is not None else 1
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"state database {path} has schema version {version}, newer than this stackwatch "
            f"({SCHEMA_VERSION}): upgrade stackwatch or use another state.path"
        )
    if not fresh:
        for step in _MIGRATIONS[version - 1 :]:
            for statement in step:
                table = statement.split()[2]  # ALTER TABLE name ...
                # a table newer than the database is made whole by the schema below
                if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                    db.execute(statement)
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )


class Database:
    """The open connection every table class works on; use as a context manager."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        try:
            # created 0600 before SQLite opens it: its -wal and -shm take the same mode
            private_dirs(self.path.parent)
            create_private(self.path)
            self._db = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            _enable_wal(self._db, timeout)
            self._db.execute("PRAGMA synchronous=NORMAL")
            # one transaction: concurrent first starts create (or migrate) the schema once
            with self.transaction() as db:
                _create_or_migrate(db, self.path)
        except StoreError:
            self._db.close()
            raise
        except (OSError, sqlite3.Error) as exc:
            raise disk_full(self.path, exc) or StoreError(
                f"cannot open state database {self.path}: {exc}"
            ) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: writers queue up here instead of failing mid-way."""
        if self._db.in_transaction:
            yield self._db
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite rolls back by itself on a full disk
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except (OSError, sqlite3.Error) as exc:
            full = disk_full(self.path, exc)
            if full is None:
                raise
            raise full from exc
