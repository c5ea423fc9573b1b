"""The state changes of alert instances within the flap window, and the instances that flap."""

from __future__ import annotations

import sqlite3

from alerter.flapping import FlapHistory, FlapRecord, FlapUpdate
from alerter.store.database import Database


class FlapTables(Database):
    """What flap detection reads before an evaluation and writes after it, per group."""

    def flap_history(self, group: str, since: float) -> FlapHistory:
        """The group's changes after ``since`` (oldest first) and its flapping instances."""
        changes: dict[str, list[float]] = {}
        for row in self._db.execute(
            "SELECT fingerprint, at FROM alert_changes WHERE grp = ? AND at > ? ORDER BY at",
            (group, since),
        ):
            changes.setdefault(row["fingerprint"], []).append(row["at"])
        flapping = {
            row["fingerprint"]: FlapRecord(
                row["fingerprint"],
                row["since"],
                row["last_change"],
                row["changes"],
                row["mailed_state"],
                row["mailed_at"],
            )
            for row in self._db.execute("SELECT * FROM flapping WHERE grp = ?", (group,))
        }
        return FlapHistory(changes, flapping)

    def save_flapping(self, group: str, update: FlapUpdate, now: float, window: float) -> None:
        """Record the changes seen at ``now``; forget those older than ``window``, so the
        history of a group stays bounded by what flap detection reads."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO alert_changes (fingerprint, grp, at, state) VALUES (?, ?, ?, ?)",
                [(fp, group, now, state) for fp, state in update.changes],
            )
            db.execute("DELETE FROM alert_changes WHERE grp = ? AND at <= ?", (group, now - window))
            db.executemany(
                """INSERT OR REPLACE INTO flapping (fingerprint, grp, since, last_change, changes,
                       mailed_state, mailed_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        r.fingerprint,
                        group,
                        r.since,
                        r.last_change,
                        r.changes,
                        r.mailed_state,
                        r.mailed_at,
                    )
                    for r in update.records
                ],
            )
            for fp in update.ended:
                # a settled instance starts counting afresh, or it would flap again at once
                db.execute("DELETE FROM flapping WHERE fingerprint = ?", (fp,))
                db.execute("DELETE FROM alert_changes WHERE fingerprint = ?", (fp,))

    @staticmethod
    def _forget_changes(db: sqlite3.Connection, cutoff: float) -> None:
        db.execute("DELETE FROM alert_changes WHERE at < ?", (cutoff,))
        db.execute("DELETE FROM flapping WHERE last_change < ?", (cutoff,))
