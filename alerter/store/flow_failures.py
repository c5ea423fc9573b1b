"""Each flow's failing streak, so that a flow failing run after run is mailed once, reminded
at most every ``rules.repeat_interval``, and mailed once when it recovers."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from alerter.store.database import Database

#: the mail a failed run calls for
FIRST = "failed"
REMINDER = "reminder"


@dataclass(frozen=True)
class FlowFailure:
    """A flow's failing streak: since when, how many failed runs, what was mailed when."""

    flow: str
    failing_since: float
    failed_runs: int
    last_failed: float
    last_error: str
    last_mailed: float | None


def _failure(row: sqlite3.Row) -> FlowFailure:
    return FlowFailure(
        row["flow"],
        row["failing_since"],
        row["failed_runs"],
        row["last_failed"],
        row["last_error"],
        row["last_mailed"],
    )


class FlowFailureTable(Database):
    """Failing streaks by flow name; every change is one transaction, so runs of the same flow
    in several processes count once each and claim each mail once."""

    def record_failure(
        self, flow: str, error: str, now: float, repeat_interval: float
    ) -> tuple[FlowFailure, str | None]:
        """Count a failed run; returns the streak and the mail now due (``FIRST``,
        ``REMINDER`` or None). A due mail is claimed: give it back with ``mail_failed``."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM flow_failures WHERE flow = ?", (flow,)).fetchone()
            if row is None:
                failure = FlowFailure(flow, now, 1, now, error, now)
                due: str | None = FIRST
            else:
                old = _failure(row)
                mailed = old.last_mailed
                # never mailed (the mail could not go out): the next failure tries again
                due = (
                    FIRST
                    if mailed is None
                    else REMINDER
                    if now - mailed >= repeat_interval
                    else None
                )
                failure = FlowFailure(
                    flow,
                    old.failing_since,
                    old.failed_runs + 1,
                    now,
                    error,
                    now if due is not None else mailed,
                )
            self._put(db, failure)
        return failure, due

    def mail_failed(self, failure: FlowFailure, previous: float | None) -> None:
        """The claimed mail could not be sent: the next failed run is due to try again."""
        with self.transaction() as db:
            db.execute(
                "UPDATE flow_failures SET last_mailed = ? WHERE flow = ? AND last_mailed = ?",
                (previous, failure.flow, failure.last_mailed),
            )

    def record_success(self, flow: str) -> FlowFailure | None:
        """End the flow's failing streak; returns it (None when the flow was not failing)."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM flow_failures WHERE flow = ?", (flow,)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM flow_failures WHERE flow = ?", (flow,))
        return _failure(row)

    def restore_failure(self, failure: FlowFailure) -> None:
        """Put an ended streak back (its recovered mail could not be sent) unless a newer
        failure started one."""
        with self.transaction() as db:
            db.execute(
                """INSERT OR IGNORE INTO flow_failures (flow, failing_since, failed_runs,
                       last_failed, last_error, last_mailed) VALUES (?, ?, ?, ?, ?, ?)""",
                (
                    failure.flow,
                    failure.failing_since,
                    failure.failed_runs,
                    failure.last_failed,
                    failure.last_error,
                    failure.last_mailed,
                ),
            )

    def failing_flows(self) -> list[FlowFailure]:
        rows = self._db.execute("SELECT * FROM flow_failures ORDER BY flow").fetchall()
        return [_failure(row) for row in rows]

    @staticmethod
    def _put(db: sqlite3.Connection, f: FlowFailure) -> None:
        db.execute(
            """INSERT OR REPLACE INTO flow_failures (flow, failing_since, failed_runs,
                   last_failed, last_error, last_mailed) VALUES (?, ?, ?, ?, ?, ?)""",
            (f.flow, f.failing_since, f.failed_runs, f.last_failed, f.last_error, f.last_mailed),
        )
