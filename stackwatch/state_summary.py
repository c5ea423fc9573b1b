"""The state database summed up, read-only: the outbox (mail per state, the oldest unsent), each
rule group's last evaluation and each flow's last successful run.

The one place outside the alerter's store that knows these tables' shape: the exporter reads
the summary through ``read_state_summary`` (SQLite ``mode=ro``: it never creates the
file, never takes a write lock, and waits for a lock a few milliseconds at most), and the store
counts its own mail with ``summarize_outbox``, so both agree on what each state means.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from stackwatch.errors import StackwatchError

#: the outbox table's columns as the alerter's schema creates them; a test compares the two,
#: so a schema change that this reader does not follow fails
OUTBOX_COLUMNS = (
    "id",
    "grp",
    "subject",
    "message",
    "created_at",
    "sent_at",
    "attempts",
    "last_error",
    "lease_until",
    "next_attempt",
    "dead_at",
    "pending_to",
    "dead_to",
    "alerts",
    "receiver",
)

#: the states of a mail, each mail in exactly one
OUTBOX_STATES = ("queued", "sent", "dead")

# dead first: a mail some recipients refused for good is dead though others accepted it
_STATE = (
    "CASE WHEN dead_at IS NOT NULL THEN 'dead'"
    " WHEN sent_at IS NOT NULL THEN 'sent' ELSE 'queued' END"
)
_NEEDED = ("created_at", "sent_at", "dead_at", "last_error")

BUSY_TIMEOUT = 0.02
"""Seconds a read waits for a lock held by another connection before it gives up as busy."""


class StateReadError(StackwatchError):
    """The state database exists but cannot be read: not a database, no outbox, no access."""


class StateBusyError(StateReadError):
    """Another connection holds a lock that keeps readers out (a writer in exclusive mode, or a
    recovery after a crash): try again later."""


@dataclass(frozen=True)
class OutboxSummary:
    """How many mails are in each state, and when the oldest unsent one was queued."""

    mails: dict[str, int]
    oldest_queued: float | None = None  # unixtime; None: nothing queued
    retrying: int = 0  # queued mail that failed before: waiting for a retry

    @classmethod
    def empty(cls) -> OutboxSummary:
        return cls(dict.fromkeys(OUTBOX_STATES, 0))


@dataclass(frozen=True)
class GroupFreshness:
    """When a rule group was last evaluated (unixtime), and whether every rule was queried."""

    evaluated_at: float
    success: bool


@dataclass(frozen=True)
class StateSummary:
    """The outbox, the groups' last evaluations and the flows' last successful runs."""

    outbox: OutboxSummary
    groups: dict[str, GroupFreshness]
    flows: dict[str, float]  # flow name → unixtime of its last completed run

    @classmethod
    def empty(cls) -> StateSummary:
        return cls(OutboxSummary.empty(), {}, {})


def _tables(db: sqlite3.Connection) -> set[str]:
    return {str(row[0]) for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def summarize_state(db: sqlite3.Connection) -> StateSummary:
    """The whole summary over an open connection; a database from before schema version 4
    (not yet migrated by the alerter) has no evaluations or flow runs yet."""
    tables = _tables(db)
    groups: dict[str, GroupFreshness] = {}
    if "evaluations" in tables:
        for group, at, success in db.execute(
            "SELECT grp, evaluated_at, success FROM evaluations ORDER BY grp"
        ):
            groups[str(group)] = GroupFreshness(float(at), bool(success))
    flows: dict[str, float] = {}
    if "flow_runs" in tables:
        for flow, at in db.execute("SELECT flow, last_success FROM flow_runs ORDER BY flow"):
            flows[str(flow)] = float(at)
    return StateSummary(summarize_outbox(db), groups, flows)


def summarize_outbox(db: sqlite3.Connection) -> OutboxSummary:
    """The summary over an open connection to the state database."""
    mails = dict.fromkeys(OUTBOX_STATES, 0)
    rows = db.execute(
        f"SELECT {_STATE} AS state, count(*), min(created_at),"  # noqa: S608 - constant SQL
        " sum(CASE WHEN last_error IS NOT NULL THEN 1 ELSE 0 END) FROM outbox GROUP BY state"
    ).fetchall()
    oldest: float | None = None
    retrying = 0
    for state, count, first, tried in rows:
        mails[str(state)] = int(count)
        if state == "queued":
            oldest = float(first) if first is not None else None
            retrying = int(tried or 0)
    return OutboxSummary(mails, oldest, retrying)


def _check_columns(db: sqlite3.Connection, path: Path) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    if not columns:
        raise StateReadError(f"state database {path} has no outbox table")
    missing = [c for c in _NEEDED if c not in columns]
    if missing:
        raise StateReadError(
            f"state database {path}: the outbox has no column {', '.join(missing)}"
            " (written by another version of stackwatch?)"
        )


def _error(path: Path, exc: sqlite3.Error) -> StateReadError:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StateBusyError(f"state database {path} is locked")
    if name == "SQLITE_NOTADB":
        return StateReadError(f"state database {path} is not an SQLite database")
    if name.startswith("SQLITE_READONLY"):
        # a WAL database's readers share an index file beside it (-shm) that SQLite must create
        return StateReadError(
            f"cannot read state database {path}: its folder is not writable, and SQLite "
            "needs to create the WAL index file beside it"
        )
    return StateReadError(f"cannot read state database {path}: {exc}")


def read_state_summary(path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> StateSummary | None:
    """The summary of the database at ``path``, read-only; None when there is no file (no
    alerter has run yet).

    Raises ``StateBusyError`` when a lock keeps readers out for ``busy_timeout``, and
    ``StateReadError`` when the file is not a readable state database.
    """
    try:
        if not path.exists():
            return None
        uri = f"{path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, timeout=busy_timeout, check_same_thread=False)
    except OSError as exc:
        raise StateReadError(f"cannot read state database {path}: {exc.strerror}") from exc
    except sqlite3.Error as exc:
        if not path.exists():
            return None  # removed between the check and the open
        raise _error(path, exc) from exc
    try:
        _check_columns(db, path)
        # one read transaction: the outbox and the evaluations are of the same moment
        db.execute("BEGIN")
        return summarize_state(db)
    except sqlite3.Error as exc:
        raise _error(path, exc) from exc
    finally:
        db.close()


def read_outbox_summary(path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> OutboxSummary | None:
    """The outbox part of ``read_state_summary``."""
    summary = read_state_summary(path, busy_timeout=busy_timeout)
    return summary.outbox if summary is not None else None
