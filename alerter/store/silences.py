"""Silences as the state database keeps them (the matching itself is alerter.silences)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from alerter.silences import Silence, SilenceError
from alerter.store.database import Database, to_datetime
from stackwatch.matchers import Matcher


def _silence(row: sqlite3.Row) -> Silence:
    return Silence(
        id=row["id"],
        matchers=tuple(Matcher(*m) for m in json.loads(row["matchers"])),
        starts_at=to_datetime(row["starts_at"]) or datetime.now(tz=UTC),
        ends_at=to_datetime(row["ends_at"]) or datetime.now(tz=UTC),
        comment=row["comment"],
        created_by=row["created_by"],
        created_at=to_datetime(row["created_at"]) or datetime.now(tz=UTC),
    )


class SilenceTable(Database):
    """Silences added, listed and expired by hand; evaluation reads the active ones."""

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
        return _silence(row)

    def silences(
        self, *, include_expired: bool = False, now: datetime | None = None
    ) -> list[Silence]:
        moment = (now or datetime.now(tz=UTC)).timestamp()
        sql = "SELECT * FROM silences"
        params: tuple[Any, ...] = ()
        if not include_expired:
            sql += " WHERE ends_at > ?"
            params = (moment,)
        return [_silence(r) for r in self._db.execute(sql + " ORDER BY id", params)]

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
        return _silence(row)

    @staticmethod
    def _forget_expired(db: sqlite3.Connection, cutoff: float) -> None:
        db.execute("DELETE FROM silences WHERE ends_at < ?", (cutoff,))
