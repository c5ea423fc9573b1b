"""What one evaluation of a group comes to: each alert's status, and the check's summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerter.model import FIRING, AlertState
from stackwatch.format import format_value, labels_text, moment_text


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
            lines += [
                "| Alert | State | Labels | Value | Active since | Summary |",
                "|---|---|---|---|---|---|",
            ]
            for a in self.alerts:
                labels = labels_text(a.labels)
                since = moment_text(a.active_since.timestamp() if a.active_since else None)
                value = format_value(a.value) if a.value is not None else ""
                state = a.state + (" (silenced)" if a.silenced else "")
                state += " (flapping)" if a.flapping else ""
                lines.append(
                    f"| {_md(a.alertname)} | {state} | {_md(labels)} | {value} | {since} "
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


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def status_of(state: AlertState, flapping: frozenset[str] = frozenset()) -> AlertStatus:
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
    )
