"""The alerter's state database: the mail outbox (mail per state, the oldest unsent), each rule
group's last evaluation and each flow's last successful run (how fresh the checks are).

The database (``state.path``) is read read-only in a background thread every
``REFRESH_INTERVAL``; a scrape serves the latest reading, so a locked database or a hung disk
never slows a scrape. No database file yet means no alerter has run: every state counts 0. A
file that is not a readable state database, or a reading older than ``MAX_AGE`` (the database
stayed locked, or the read hangs), fails the collector.

# HELP stackwatch_outbox_mails Mails in the alerter's outbox by state: queued (not yet accepted,
#   or waiting for a retry), sent, dead (refused for good or given up).
# TYPE stackwatch_outbox_mails gauge
# HELP stackwatch_outbox_oldest_queued_timestamp_seconds When the oldest mail still queued was
#   queued, in unixtime; absent when none is.
# TYPE stackwatch_outbox_oldest_queued_timestamp_seconds gauge
# HELP stackwatch_rule_group_last_evaluation_timestamp_seconds When the alerter last evaluated
#   the rule group, in unixtime.
# TYPE stackwatch_rule_group_last_evaluation_timestamp_seconds gauge
# HELP stackwatch_rule_group_last_evaluation_success Whether the group's last evaluation read
#   every rule file and queried every rule (1) or not (0).
# TYPE stackwatch_rule_group_last_evaluation_success gauge
# HELP stackwatch_rule_group_interval_seconds Seconds between two scheduled evaluations of the
#   group: its check flow's shortest interval in the flow catalogue.
# TYPE stackwatch_rule_group_interval_seconds gauge
# HELP stackwatch_flow_last_success_timestamp_seconds When a run of the flow last completed,
#   in unixtime.
# TYPE stackwatch_flow_last_success_timestamp_seconds gauge
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.base import Collector
from exporter.errors import ExporterError
from exporter.refresh import RefreshLoop
from stackwatch.catalog import BY_NAME, FLOWS, evaluating_flow
from stackwatch.config import Config
from stackwatch.state_summary import (
    OUTBOX_STATES,
    StateBusyError,
    StateReadError,
    StateSummary,
    read_state_summary,
)

REFRESH_INTERVAL = 5.0
"""Seconds between two readings of the state database."""

MAX_AGE = 60.0
"""Beyond this age a reading is not served: the database stayed locked or the read hangs."""


class OutboxError(ExporterError):
    """The outbox cannot be read from the state database."""


@dataclass(frozen=True)
class _Reading:
    summary: StateSummary
    taken_at: float  # monotonic


class OutboxCollector(Collector):
    """Serves the latest reading of the state database: outbox and freshness."""

    name = "outbox"

    def __init__(
        self,
        path: Path,
        *,
        interval: float = REFRESH_INTERVAL,
        max_age: float = MAX_AGE,
        assigned: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.assigned = dict(assigned or {})  # rules.flows: which flow evaluates which group
        self.max_age = max_age
        # one tuple, replaced whole: a scrape never sees a reading with another one's error
        self._state: tuple[_Reading | None, str | None, str | None] = (None, None, None)
        self._loop = RefreshLoop("outbox-refresh", interval, self.refresh, join_timeout=1.0)

    @classmethod
    def from_config(cls, config: Config) -> OutboxCollector:
        return cls(config.state.path, assigned=config.rules.flows)

    def start(self) -> None:
        self._loop.start()

    def close(self) -> None:
        self._loop.close()

    def refresh(self) -> None:
        """Read the outbox now; a locked database keeps the last reading, for a while."""
        reading, _error, _busy = self._state
        try:
            summary = read_state_summary(self.path) or StateSummary.empty()
        except StateBusyError as exc:
            self._state = (reading, None, str(exc))
        except StateReadError as exc:
            self._state = (reading, str(exc), None)
        else:
            self._state = (_Reading(summary, time.monotonic()), None, None)

    def collect(self) -> Iterator[Metric]:
        reading, error, busy = self._state
        if error is not None:
            raise OutboxError(error)
        if reading is None:
            raise OutboxError(busy or f"state database {self.path} not read yet")
        age = time.monotonic() - reading.taken_at
        if age > self.max_age:
            why = busy or f"reading state database {self.path} does not finish"
            raise OutboxError(f"the outbox reading is {age:.0f}s old: {why}")
        summary = reading.summary.outbox
        mails = GaugeMetricFamily(
            "stackwatch_outbox_mails",
            "Mails in the alerter's outbox by state: queued (not yet accepted, or waiting for a "
            "retry), sent, dead (refused for good or given up).",
            labels=["state"],
        )
        for state in OUTBOX_STATES:
            mails.add_metric([state], float(summary.mails.get(state, 0)))
        yield mails
        if summary.oldest_queued is not None:
            yield GaugeMetricFamily(
                "stackwatch_outbox_oldest_queued_timestamp_seconds",
                "When the oldest mail still queued was queued, in unixtime; absent when none is.",
                value=summary.oldest_queued,
            )
        yield from _freshness(reading.summary, self.assigned)


def _freshness(summary: StateSummary, assigned: Mapping[str, str]) -> Iterator[Metric]:
    evaluated = GaugeMetricFamily(
        "stackwatch_rule_group_last_evaluation_timestamp_seconds",
        "When the alerter last evaluated the rule group, in unixtime.",
        labels=["group"],
    )
    success = GaugeMetricFamily(
        "stackwatch_rule_group_last_evaluation_success",
        "Whether the group's last evaluation read every rule file and queried every rule (1) "
        "or not (0).",
        labels=["group"],
    )
    for group, fresh in summary.groups.items():
        evaluated.add_metric([group], fresh.evaluated_at)
        success.add_metric([group], 1.0 if fresh.success else 0.0)
    # what the shipped rule StackwatchChecksStale compares the age with: one fact, the catalogue
    interval = GaugeMetricFamily(
        "stackwatch_rule_group_interval_seconds",
        "Seconds between two scheduled evaluations of the group: its check flow's shortest "
        "interval in the flow catalogue.",
        labels=["group"],
    )
    checks = [spec.name for spec in FLOWS if spec.kind == "check"]
    # each check flow's own group, and each other group evaluated: its flow's interval; none
    # for a group no flow evaluates now (``rules.flows: none``), which is then never stale
    for group in dict.fromkeys([*checks, *summary.groups]):
        spec = BY_NAME.get(evaluating_flow(group, assigned))
        if spec is not None:
            interval.add_metric([group], spec.interval)
    flows = GaugeMetricFamily(
        "stackwatch_flow_last_success_timestamp_seconds",
        "When a run of the flow last completed, in unixtime.",
        labels=["flow"],
    )
    for flow, at in summary.flows.items():
        flows.add_metric([flow], at)
    yield evaluated
    yield success
    yield interval
    yield flows
