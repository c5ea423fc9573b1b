"""The mail outbox: composed notifications waiting for SMTP, claimed by one run at a time.

A mail is queued until every recipient accepted it or refused it for good. A deferred mail
(4xx, server unreachable) waits ``next_attempt`` before it is tried again; a mail refused for
good (5xx), or given up after deferrals only, is dead: kept, with the server's answer, and
never tried again. What each state means is ``stackwatch.state_summary``'s, which the exporter
reads too.
"""

from __future__ import annotations

import email
import email.policy
import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

from alerter.store.database import Database, to_datetime
from stackwatch.mail import recipients
from stackwatch.state_summary import summarize_outbox


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
    next_attempt: float | None = None
    #: recipients still to deliver to; None: every recipient of the message
    pending_to: list[str] | None = None
    #: recipients that refused for good, with the server's answer
    dead_to: dict[str, str] = field(default_factory=dict)
    dead_at: datetime | None = None
    #: the ``notify.receivers`` entry it goes to; None: mail by smtp
    receiver: str | None = None

    def refusals(self) -> dict[str, str]:
        """Of a dead mail: each recipient it was not delivered to, with the server's answer
        (or why it was given up)."""
        if self.dead_to:
            return dict(self.dead_to)
        if self.pending_to is not None:
            to = list(self.pending_to)
        else:
            message = email.message_from_bytes(self.message, policy=email.policy.default)
            to = recipients(message) if isinstance(message, EmailMessage) else []
        if not to and self.receiver is not None:  # a webhook or Apprise message
            to = [self.receiver]
        return dict.fromkeys(to, self.last_error or "")


def _mail(row: sqlite3.Row) -> QueuedMail:
    return QueuedMail(
        row["id"],
        row["grp"],
        row["subject"],
        bytes(row["message"]),
        to_datetime(row["created_at"]) or datetime.now(tz=UTC),
        row["attempts"],
        row["last_error"],
        row["next_attempt"],
        json.loads(row["pending_to"]) if row["pending_to"] is not None else None,
        json.loads(row["dead_to"]) if row["dead_to"] else {},
        to_datetime(row["dead_at"]),
        row["receiver"],
    )


class Outbox(Database):
    """Mail is queued in the same transaction as the alert states it reports."""

    def enqueue(
        self,
        group: str,
        subject: str,
        message: bytes,
        now: float,
        *,
        alerts: Collection[str] = (),
        receiver: str | None = None,
    ) -> int:
        """Queue a mail (or a receiver's message) reporting the alert fingerprints ``alerts``.

        An older mail of the group that is still unsent, not being delivered, and reports only
        alerts this one reports too is replaced: this mail says what is true now, so a FIRING
        never arrives after its RESOLVED. Only a message to the same ``receiver`` is replaced.
        """
        reported = set(alerts)
        with self.transaction() as db:
            if reported:
                older = db.execute(
                    """SELECT id, alerts FROM outbox
                       WHERE grp = ? AND receiver IS ? AND sent_at IS NULL AND dead_at IS NULL
                         AND pending_to IS NULL AND alerts IS NOT NULL
                         AND (lease_until IS NULL OR lease_until < ?)""",
                    (group, receiver, now),
                ).fetchall()
                for row in older:
                    if set(json.loads(row["alerts"])) <= reported:
                        db.execute("DELETE FROM outbox WHERE id = ?", (row["id"],))
            cursor = db.execute(
                "INSERT INTO outbox (grp, subject, message, created_at, alerts, receiver)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    group,
                    subject,
                    message,
                    now,
                    json.dumps(sorted(reported)) if reported else None,
                    receiver,
                ),
            )
        return int(cursor.lastrowid or 0)

    def queued(self) -> list[QueuedMail]:
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL ORDER BY id"
        ).fetchall()
        return [_mail(row) for row in rows]

    def dead(self) -> list[QueuedMail]:
        """Mail refused for good, wholly or for some recipients, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE dead_at IS NOT NULL ORDER BY id"
        ).fetchall()
        return [_mail(row) for row in rows]

    def queued_count(self) -> int:
        return summarize_outbox(self._db).mails["queued"]

    def dead_count(self) -> int:
        return summarize_outbox(self._db).mails["dead"]

    def claim(self, mail_id: int, now: float, lease: float) -> bool:
        """Take a queued mail for delivery; false if another run holds or already sent it, or
        if its next attempt is not due yet."""
        with self.transaction() as db:
            cursor = db.execute(
                """UPDATE outbox SET lease_until = ?, attempts = attempts + 1
                   WHERE id = ? AND sent_at IS NULL AND dead_at IS NULL
                     AND (lease_until IS NULL OR lease_until < ?)
                     AND (next_attempt IS NULL OR next_attempt <= ?)""",
                (now + lease, mail_id, now, now),
            )
        return cursor.rowcount == 1

    def mark_sent(self, mail_id: int, now: float) -> None:
        with self.transaction() as db:
            db.execute(
                """UPDATE outbox SET sent_at = ?, lease_until = NULL, next_attempt = NULL,
                   last_error = CASE WHEN dead_to IS NULL THEN NULL ELSE last_error END,
                   pending_to = '[]',
                   dead_at = CASE WHEN dead_to IS NULL THEN NULL ELSE ? END
                   WHERE id = ?""",
                (now, now, mail_id),
            )

    def mark_failed(self, mail_id: int, error: str, next_attempt: float | None = None) -> None:
        """Leave the mail queued, to be tried again from ``next_attempt`` on."""
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET lease_until = NULL, last_error = ?, next_attempt = ?"
                " WHERE id = ?",
                (error, next_attempt, mail_id),
            )

    def mark_dead(self, mail_id: int, answer: str, now: float) -> None:
        """The server refused the mail for good: keep it, with its answer, never retry it."""
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET lease_until = NULL, last_error = ?, dead_at = ?,"
                " next_attempt = NULL WHERE id = ?",
                (answer, now, mail_id),
            )

    def mark_recipients(
        self,
        mail_id: int,
        *,
        pending: Sequence[str],
        dead: Mapping[str, str],
        error: str | None,
        next_attempt: float | None,
        now: float,
    ) -> None:
        """Record a delivery some recipients accepted: ``pending`` stay queued, ``dead`` refused
        for good. With nobody pending the mail is done (and dead if anyone refused it)."""
        with self.transaction() as db:
            row = db.execute("SELECT dead_to FROM outbox WHERE id = ?", (mail_id,)).fetchone()
            dead_to = {**(json.loads(row["dead_to"]) if row and row["dead_to"] else {}), **dead}
            finished = not pending
            db.execute(
                """UPDATE outbox SET lease_until = NULL, pending_to = ?, dead_to = ?,
                   last_error = ?, next_attempt = ?, sent_at = ?, dead_at = ? WHERE id = ?""",
                (
                    json.dumps(list(pending)),
                    json.dumps(dead_to) if dead_to else None,
                    error,
                    None if finished else next_attempt,
                    now if finished and not dead_to else None,
                    now if finished and dead_to else None,
                    mail_id,
                ),
            )

    def notify_log(self) -> dict[tuple[str, str], tuple[frozenset[str], float]]:
        """What each receiver was last told about each group: (receiver, group key) → the
        alerts firing then and when."""
        rows = self._db.execute("SELECT receiver, group_key, firing, sent_at FROM notify_log")
        return {
            (row["receiver"], row["group_key"]): (frozenset(json.loads(row["firing"])), row[3])
            for row in rows
        }

    def save_notify_log(
        self, entries: Mapping[tuple[str, str], tuple[Collection[str], float]]
    ) -> None:
        with self.transaction() as db:
            for (receiver, key), (firing, sent_at) in entries.items():
                db.execute(
                    "INSERT OR REPLACE INTO notify_log (receiver, group_key, firing, sent_at)"
                    " VALUES (?, ?, ?, ?)",
                    (receiver, key, json.dumps(sorted(firing)), sent_at),
                )

    @staticmethod
    def _forget_sent(db: sqlite3.Connection, cutoff: float) -> int:
        # a receiver told that all of a group resolved needs no entry any more
        db.execute("DELETE FROM notify_log WHERE sent_at < ? AND firing = '[]'", (cutoff,))
        return int(
            db.execute(
                "DELETE FROM outbox WHERE sent_at < ? OR dead_at < ?", (cutoff, cutoff)
            ).rowcount
        )
