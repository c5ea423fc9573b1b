"""What one evaluation of a group comes to: each alert's status, and the check's summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerter.model import FIRING, AlertState
from stackwatch.format import by_unit, common_labels, cut, lasting, short_ids, stamp


@dataclass(frozen=True)
class AlertStatus:
    """An alert instance of the group after the evaluation."""

    alertname: str
    labels: dict[str, str]
    state: str
    value: float | None
    active_since: datetime | None
    summary: str
    silenced: bool = False
    #: held out of mail until it settles (see ``alerter.flapping``)
    flapping: bool = False
    #: the firing alert that inhibits it (``notify.inhibit``), if any
    inhibited_by: str | None = None
    #: the value's unit (``stackwatch.format.UNITS``), as the rule's annotations format it
    unit: str = ""

    @property
    def shown_state(self) -> str:
        """The state as commands and artifacts print it: ``firing (inhibited by HostDown{…})``."""
        state = self.state + (" (silenced)" if self.silenced else "")
        state += " (flapping)" if self.flapping else ""
        return state + (f" (inhibited by {self.inhibited_by})" if self.inhibited_by else "")


@dataclass(frozen=True)
class CheckResult:
    """What one evaluation of a group found, sent and left queued."""

    group: str
    alerts: list[AlertStatus]
    sent: list[str]
    queued: int
    blind: bool
    errors: list[str]
    #: mail in the outbox that the server refused for good (see ``stackwatch alerts list``)
    dead: int = 0
    would_send: list[str] = field(default_factory=list)
    dry_run: bool = False
    evaluated_at: datetime | None = None
    #: alerts that fired and resolved since the previous evaluation, one line each
    between: list[str] = field(default_factory=list)

    @property
    def firing(self) -> list[AlertStatus]:
        return [a for a in self.alerts if a.state == FIRING]

    def to_markdown(self) -> str:
        """A Markdown summary (for a Prefect artifact): a table of alerts, then what was mailed."""
        lines = [f"### {self.group}", ""]
        if self.blind:
            lines += [
                "**Monitoring is blind**: alerts whose data it cannot see do not resolve.",
                "",
            ]
        if self.alerts:
            shown = [_shown(a.labels) for a in self.alerts]
            common = common_labels(shown)
            if common:
                lines += ["Every alert below has " + _md(_labels_text(common)) + ".", ""]
            lines += [
                "| Alert | State | Labels | Value | Active since | Summary |",
                "|---|---|---|---|---|---|",
            ]
            for a, labels in zip(self.alerts, shown, strict=True):
                own = {k: v for k, v in labels.items() if common.get(k) != v}
                state = _md(a.shown_state)
                lines.append(
                    f"| {_md(a.alertname)} | {state} | {_md(_labels_text(own))} "
                    f"| {by_unit(a.value, a.unit, missing='')} | {self._since(a)} "
                    f"| {_md(a.summary)} |"
                )
        else:
            lines.append("No alerts pending or firing.")
        if self.between:
            lines += [
                "",
                "Fired and resolved between checks:",
                *[f"- {_md(e)}" for e in self.between],
            ]
        lines.append("")
        sent = self.would_send if self.dry_run else self.sent
        verb = "Would send" if self.dry_run else "Sent"
        lines += [f"{verb}: " + ("; ".join(_md(s) for s in sent) if sent else "nothing")]
        lines.append(f"Queued in the outbox: {self.queued}")
        if self.dead:
            lines.append(f"Dead in the outbox (refused for good): {self.dead}")
        if self.errors:
            lines += ["", "Errors:", *[f"- {_md(e)}" for e in self.errors]]
        return "\n".join(lines) + "\n"

    def _since(self, alert: AlertStatus) -> str:
        if alert.active_since is None:
            return ""
        if self.evaluated_at is None:
            return stamp(alert.active_since)
        held = (self.evaluated_at - alert.active_since).total_seconds()
        return f"{stamp(alert.active_since)}, {lasting(held)}"


def _shown(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(labels.items()) if k != "alertname"}


def _labels_text(labels: Mapping[str, str]) -> str:
    """Labels for a table cell: container ids as ``docker ps`` shows them, long values cut."""
    return ", ".join(f"{k}={cut(short_ids(v))}" for k, v in labels.items())


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def status_of(
    state: AlertState,
    flapping: frozenset[str] = frozenset(),
    units: Mapping[str, str] | None = None,
) -> AlertStatus:
    return AlertStatus(
        alertname=state.alertname,
        labels=dict(state.labels),
        state=state.state,
        value=state.value,
        active_since=(
            datetime.fromtimestamp(state.active_since, tz=UTC)
            if state.active_since is not None
            else None
        ),
        summary=state.summary,
        silenced=state.silenced_by is not None,
        flapping=state.fingerprint in flapping,
        inhibited_by=state.inhibited_by,
        unit=(units or {}).get(state.alertname, ""),
    )
