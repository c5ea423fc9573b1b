"""The watchdog's memory: what it last mailed and since when the Prefect API is unreachable, so
a restarted watchdog neither mails again nor forgets to mail that checks resumed."""

from __future__ import annotations

import json

from alerter.store.database import Database
from alerter.watchdog import WatchState


class WatchdogTable(Database):
    """One row: the watchdog's state after its last look."""

    def watchdog_state(self) -> WatchState | None:
        row = self._db.execute("SELECT * FROM watchdog WHERE id = 1").fetchone()
        if row is None:
            return None
        return WatchState(
            started_at=row["started_at"],
            stopped=tuple(str(g) for g in json.loads(row["stopped"])),
            alarmed=bool(row["alarmed"]),
            api_down_since=row["api_down_since"],
            mailed_at=row["mailed_at"],
        )

    def save_watchdog(self, state: WatchState) -> None:
        """Replace the state; joins an open transaction."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO watchdog (id, started_at, stopped, alarmed,"
                " api_down_since, mailed_at) VALUES (1, ?, ?, ?, ?, ?)",
                (
                    state.started_at,
                    json.dumps(list(state.stopped)),
                    int(state.alarmed),
                    state.api_down_since,
                    state.mailed_at,
                ),
            )
