"""When each rule group was last evaluated and how that went, and each flow's last successful
run: what the freshness metrics, the watchdog and the daily report read."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from alerter.store.database import Database

#: an evaluation's error is kept this long at most: the whole text is in the run's log
_ERROR_CHARS = 500


@dataclass(frozen=True)
class Evaluation:
    """A group's last evaluation: when (unixtime), whether every rule was queried, the error."""

    group: str
    evaluated_at: float
    success: bool
    error: str | None


class EvaluationTable(Database):
    """The last evaluation by group and the last successful run by flow, one row each."""

    def record_evaluation(
        self,
        group: str,
        at: float,
        *,
        success: bool,
        error: str | None = None,
        covered_to: float | None = None,
    ) -> None:
        """Remember the group's evaluation at ``at``; joins an open transaction. ``covered_to``:
        the end of the time it looked at (kept from before when None, as after a failure)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO evaluations (grp, evaluated_at, success, error, covered_to)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp) DO UPDATE SET"
                " evaluated_at = excluded.evaluated_at, success = excluded.success,"
                " error = excluded.error,"
                " covered_to = coalesce(excluded.covered_to, evaluations.covered_to)",
                (group, at, int(success), error[:_ERROR_CHARS] if error else None, covered_to),
            )

    def covered_to(self, group: str) -> float | None:
        """Until when the group's evaluations have looked: the next one starts there."""
        row = self._db.execute(
            "SELECT covered_to FROM evaluations WHERE grp = ?", (group,)
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def evaluations(self) -> list[Evaluation]:
        rows = self._db.execute("SELECT * FROM evaluations ORDER BY grp").fetchall()
        return [_evaluation(row) for row in rows]

    def record_flow_success(self, flow: str, at: float) -> None:
        """Remember that a run of ``flow`` completed at ``at``; an older time never wins."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO flow_runs (flow, last_success) VALUES (?, ?) ON CONFLICT (flow)"
                " DO UPDATE SET last_success = max(last_success, excluded.last_success)",
                (flow, at),
            )

    def flow_successes(self) -> dict[str, float]:
        rows = self._db.execute("SELECT flow, last_success FROM flow_runs ORDER BY flow")
        return {str(flow): float(at) for flow, at in rows}


def _evaluation(row: sqlite3.Row) -> Evaluation:
    return Evaluation(row["grp"], row["evaluated_at"], bool(row["success"]), row["error"])
