"""Durable alert state in SQLite (WAL): alert instances, firing episodes, the mail outbox, silences,
flap detection's change history, the failing streaks of flows, each group's last evaluation and
each flow's last successful run.

Every read-modify-write of a group's state runs in one ``BEGIN IMMEDIATE`` transaction, so two
evaluations at once serialise instead of both sending the same notification.
"""

from __future__ import annotations

from datetime import datetime

from alerter.store.alerts import AlertRecord, AlertTables
from alerter.store.database import SCHEMA_VERSION, StoreError
from alerter.store.evaluations import Evaluation, EvaluationTable
from alerter.store.flapping import FlapTables
from alerter.store.flow_failures import FlowFailure, FlowFailureTable
from alerter.store.outbox import Outbox, QueuedMail
from alerter.store.silences import SilenceTable
from alerter.store.watchdog import WatchdogTable

__all__ = [
    "SCHEMA_VERSION",
    "AlertRecord",
    "AlertStore",
    "Evaluation",
    "FlowFailure",
    "QueuedMail",
    "StoreError",
]


class AlertStore(
    AlertTables,
    Outbox,
    SilenceTable,
    FlapTables,
    FlowFailureTable,
    EvaluationTable,
    WatchdogTable,
):
    """The state database: alerts, outbox, silences, flapping, flow failures, evaluations and
    the watchdog's state over one connection."""

    def prune(self, before: datetime) -> int:
        """Forget resolved alerts, episodes and sent mail that ended before ``before``."""
        cutoff = before.timestamp()
        with self.transaction() as db:
            removed = self._forget_resolved(db, cutoff) + self._forget_sent(db, cutoff)
            self._forget_expired(db, cutoff)
            self._forget_changes(db, cutoff)
        return removed
