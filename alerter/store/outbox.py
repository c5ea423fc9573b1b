"""The mail outbox: composed notifications waiting for SMTP, claimed by one run at a time."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from alerter.store.database import Database, to_datetime


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


class Outbox(Database):
    """Mail is queued in the same transaction as the alert states it reports."""

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
                to_datetime(row["created_at"]) or datetime.now(tz=UTC),
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

    @staticmethod
    def _forget_sent(db: sqlite3.Connection, cutoff: float) -> int:
        return int(db.execute("DELETE FROM outbox WHERE sent_at < ?", (cutoff,)).rowcount)
