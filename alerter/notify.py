"""Notification policy (what to mail, when) and the rendering of one mail per group.

New firing alerts are mailed at once, still-firing ones again every ``repeat_interval``, and
alerts that were mailed as firing get a resolved mail. Everything a group has to say after one
evaluation goes into a single message; alerts found flapping (``alerter.flapping``) get one
``[FLAPPING]`` mail of their own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from alerter.between import BetweenNotice, Episode
from alerter.errors import AlerterError
from alerter.model import BLIND_ALERT, FIRING, RESOLVED, AlertState
from stackwatch import htmlmail
from stackwatch.config import Config
from stackwatch.format import (
    by_unit,
    common_labels,
    compact_value,
    cut,
    format_duration,
    humanize_duration,
    lasting,
    moment_text,
    short_ids,
    since_text,
)
from stackwatch.links import prometheus_graph_url
from stackwatch.mail import Mailer

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
TEXT_TEMPLATE = "alert.txt.j2"
HTML_TEMPLATE = "alert.html.j2"
FLAPPING_TEXT_TEMPLATE = "flapping.txt.j2"
FLAPPING_HTML_TEMPLATE = "flapping.html.j2"
BETWEEN_TEXT_TEMPLATE = "between.txt.j2"
BETWEEN_HTML_TEMPLATE = "between.html.j2"
MAIL_DOMAIN = "stackwatch.local"
#: the longest label or annotation value a mail shows; longer ones are cut and marked
VALUE_LIMIT = 2048
CUT_MARK = "… (cut)"


@dataclass(frozen=True)
class Notification:
    """One mail for a group: every alert firing in it now, plus those that just resolved."""

    group: str
    firing: tuple[AlertState, ...]
    resolved: tuple[AlertState, ...]
    new: tuple[AlertState, ...] = ()

    @property
    def fingerprints(self) -> frozenset[str]:
        """The alerts this mail reports, firing or resolved."""
        return frozenset(a.fingerprint for a in (*self.firing, *self.resolved))

    @property
    def subject(self) -> str:
        def names(alerts: Sequence[AlertState]) -> str:
            return ", ".join(dict.fromkeys(a.alertname for a in alerts))

        if self.firing:
            subject = f"[FIRING:{len(self.firing)}] {self.group}: {names(self.firing)}"
            if self.resolved:
                subject += f" (resolved: {names(self.resolved)})"
            return subject
        return f"[RESOLVED] {self.group}: {names(self.resolved)}"


@dataclass(frozen=True)
class FlapNotice:
    """The one mail for alerts just found flapping: each with its changes within ``window``."""

    group: str
    alerts: tuple[tuple[AlertState, int], ...]
    window: float
    settle: float

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(a.fingerprint for a, _ in self.alerts)

    @property
    def subject(self) -> str:
        names = ", ".join(dict.fromkeys(a.alertname for a, _ in self.alerts))
        return f"[FLAPPING] {self.group}: {names}"


def plan_notification(
    group: str,
    prior: Sequence[AlertState],
    current: Sequence[AlertState],
    now: float,
    *,
    repeat_interval: float,
    send_resolved: bool,
) -> tuple[Notification | None, list[AlertState]]:
    """Decide whether the group mails now; returns the mail and the states marked as notified."""
    before = {a.fingerprint: a for a in prior}
    firing = [
        a for a in current if a.state == FIRING and a.silenced_by is None and a.inhibited_by is None
    ]
    new = [a for a in firing if not a.notified]
    due = [
        a
        for a in firing
        if a.notified and (a.last_notified is None or now - a.last_notified >= repeat_interval)
    ]
    resolved = [
        a
        for a in current
        if a.state == RESOLVED
        and a.notified
        and a.silenced_by is None
        and (old := before.get(a.fingerprint)) is not None
        and old.state == FIRING
    ]
    if not send_resolved:
        resolved_to_mail: list[AlertState] = []
    else:
        resolved_to_mail = resolved
    updated = []
    for state in current:
        if state.state == RESOLVED and state.notified:
            updated.append(replace(state, notified=False))
        else:
            updated.append(state)
    if not (new or due or resolved_to_mail):
        return None, updated
    mailed = {a.fingerprint for a in firing}
    updated = [
        replace(s, notified=True, last_notified=now) if s.fingerprint in mailed else s
        for s in updated
    ]

    def order(alerts: list[AlertState]) -> tuple[AlertState, ...]:
        return tuple(sorted(alerts, key=lambda a: (a.alertname, sorted(a.labels.items()))))

    return Notification(group, order(firing), order(resolved_to_mail), tuple(new)), updated


# --- rendering --------------------------------------------------------------------------------


def bounded(value: str, limit: int = VALUE_LIMIT) -> str:
    """``value`` cut to ``limit`` characters (the mark included), so one huge label cannot
    make a mail that servers refuse."""
    if len(value) <= limit:
        return value
    return value[: limit - len(CUT_MARK)] + CUT_MARK


def _bounded_alert(alert: AlertState) -> AlertState:
    return replace(
        alert,
        labels={bounded(k): bounded(v) for k, v in alert.labels.items()},
        annotations={bounded(k): bounded(v) for k, v in alert.annotations.items()},
    )


# a link's URL: http or https, a host, and no blank or control character anywhere (browsers
# drop tabs and newlines inside a scheme, so ``java\tscript:`` must not pass)
_HTTP_URL = re.compile(r"(?i)https?://[^\s/?#\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*\Z")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "group"


def _shown_labels(alert: AlertState) -> dict[str, str]:
    return {k: bounded(v) for k, v in alert.labels.items() if k != "alertname"}


class MailRenderer:
    """Renders notifications with the mail templates (a config folder may override them)."""

    def __init__(self, config: Config, units: Mapping[str, str] | None = None) -> None:
        """``units``: each alert's value unit by alert name (``Rule.value_unit``)."""
        self.config = config
        self.units = dict(units or {})
        folders = [TEMPLATES]
        if config.rules.templates_dir is not None:
            folders.insert(0, config.rules.templates_dir)
        self.env = htmlmail.environment(*folders)
        self.fallback = htmlmail.environment(TEMPLATES) if len(folders) > 1 else None
        self.prometheus_url = (config.links.prometheus_url or config.prometheus.url).rstrip("/")

    def links(self, alert: AlertState) -> dict[str, str]:
        """Titles and URLs of the alert's links: only ``http``/``https`` URLs, so no label or
        annotation can make a ``javascript:`` or ``data:`` link; those stay text."""
        links: dict[str, str] = {}
        if alert.alertname == BLIND_ALERT:
            # the graph of the job's up, not /targets: that page is 404 on Debian's Prometheus
            up = f'up{{job="{self.config.prometheus.job}"}}'
            links["Prometheus targets"] = prometheus_graph_url(self.prometheus_url, up)
        elif alert.expr:
            links["Prometheus graph"] = prometheus_graph_url(self.prometheus_url, alert.expr)
        runbook = alert.annotations.get("runbook_url")
        if runbook:
            links["Runbook"] = runbook
        grafana = self.config.links.grafana_url
        dashboard = alert.annotations.get("dashboard_url") or alert.annotations.get("dashboard")
        if dashboard and grafana and not _HTTP_URL.match(dashboard):
            links["Grafana dashboard"] = urljoin(grafana.rstrip("/") + "/", dashboard.lstrip("/"))
        elif dashboard:
            links["Grafana dashboard"] = dashboard
        elif grafana:
            links["Grafana"] = grafana
        return {title: url for title, url in links.items() if _HTTP_URL.match(url)}

    def view(
        self, alert: AlertState, now: float, common: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """One alert for the templates. ``labels`` are all its labels (the detail section);
        ``own_labels`` those not ``common`` to its mail's alerts, ids shortened and long values
        cut, with the full value beside for a ``title``."""
        alert = _bounded_alert(alert)
        labels = {k: v for k, v in sorted(alert.labels.items()) if k != "alertname"}
        own = {k: v for k, v in labels.items() if (common or {}).get(k) != v}
        annotations = dict(alert.annotations)
        summary = annotations.pop("summary", "")
        description = annotations.pop("description", "")
        if "Runbook" in (links := self.links(alert)):
            annotations.pop("runbook_url", None)  # shown as the link; otherwise as text
        since = alert.active_since
        end = alert.resolved_at if alert.state == RESOLVED else now
        return {
            "alertname": alert.alertname,
            "new": False,
            "state": alert.state,
            "labels": labels,
            "own_labels": [(k, cut(short_ids(v)), v) for k, v in own.items()],
            "value": by_unit(alert.value, self.units.get(alert.alertname, ""), missing=""),
            "summary": summary,
            "description": description,
            "annotations": annotations,
            "since": since_text(since, end),
            "fired_at": moment_text(alert.fired_at),
            "resolved_at": moment_text(alert.resolved_at),
            "duration": lasting(end - since) if since is not None and end else "",
            "links": links,
        }

    def context(self, notification: Notification, now: float) -> dict[str, Any]:
        new = {a.fingerprint for a in notification.new}
        alerts = (*notification.firing, *notification.resolved)
        common = common_labels([_shown_labels(a) for a in alerts])
        return {
            "group": notification.group,
            "subject": notification.subject,
            "common_labels": [(k, cut(short_ids(v)), v) for k, v in common.items()],
            "firing": [
                {**self.view(a, now, common), "new": a.fingerprint in new}
                for a in notification.firing
            ],
            "resolved": [self.view(a, now, common) for a in notification.resolved],
            "now": moment_text(now),
            "prometheus_url": self.prometheus_url,
            "prefect_ui_url": self.config.links.prefect_ui_url or "",
            "grafana_url": self.config.links.grafana_url or "",
            "command": self.config.links.command,
        }

    def flapping_context(self, notice: FlapNotice, now: float) -> dict[str, Any]:
        common = common_labels([_shown_labels(a) for a, _ in notice.alerts])
        return {
            "group": notice.group,
            "subject": notice.subject,
            "common_labels": [(k, cut(short_ids(v)), v) for k, v in common.items()],
            "flapping": [
                {**self.view(a, now, common), "changes": changes, "now_firing": a.state == FIRING}
                for a, changes in notice.alerts
            ],
            "window": format_duration(notice.window),
            "settle": format_duration(notice.settle),
            "now": moment_text(now),
            "prometheus_url": self.prometheus_url,
            "prefect_ui_url": self.config.links.prefect_ui_url or "",
            "grafana_url": self.config.links.grafana_url or "",
            "command": self.config.links.command,
        }

    def between_context(self, notice: BetweenNotice, now: float) -> dict[str, Any]:
        def view(e: Episode) -> dict[str, Any]:
            alert = AlertState(
                fingerprint=e.fingerprint,
                group=e.group,
                alertname=e.alertname,
                labels=e.labels,
                annotations=e.annotations,
                state=RESOLVED,
                value=e.peak,
                active_since=e.active_since,
                fired_at=e.fired_at,
                resolved_at=e.resolved_at,
                expr=e.expr,
            )
            return {
                **self.view(alert, now, common),
                "peak": compact_value(e.peak) if e.peak is not None else "",
                "duration": humanize_duration(max(0.0, e.resolved_at - e.fired_at)),
                "continued": e.continued,
            }

        shown = [
            {k: bounded(v) for k, v in e.labels.items() if k != "alertname"}
            for e in notice.episodes
        ]
        common = common_labels(shown)
        return {
            "group": notice.group,
            "subject": notice.subject,
            "common_labels": [(k, cut(short_ids(v)), v) for k, v in common.items()],
            "episodes": [view(e) for e in notice.episodes],
            "since": moment_text(notice.since),
            "until": moment_text(notice.until),
            "now": moment_text(now),
            "prometheus_url": self.prometheus_url,
            "prefect_ui_url": self.config.links.prefect_ui_url or "",
            "grafana_url": self.config.links.grafana_url or "",
            "command": self.config.links.command,
        }

    def render(
        self, notification: Notification | FlapNotice | BetweenNotice, now: float
    ) -> tuple[str, str]:
        """Text and HTML bodies; a broken override falls back to the built-in templates."""
        if isinstance(notification, BetweenNotice):
            context = self.between_context(notification, now)
            names = (BETWEEN_TEXT_TEMPLATE, BETWEEN_HTML_TEMPLATE)
        elif isinstance(notification, FlapNotice):
            context = self.flapping_context(notification, now)
            names = (FLAPPING_TEXT_TEMPLATE, FLAPPING_HTML_TEMPLATE)
        else:
            context = self.context(notification, now)
            names = (TEXT_TEMPLATE, HTML_TEMPLATE)
        try:
            return self._render(self.env, context, names)
        except TemplateError as exc:
            if self.fallback is None:
                raise AlerterError(f"mail template: {exc}") from exc
            log.error(
                "mail template in %s failed, using the built-in one: %s",
                self.config.rules.templates_dir,
                exc,
            )
            return self._render(self.fallback, context, names)

    @staticmethod
    def _render(
        env: SandboxedEnvironment, context: dict[str, Any], names: tuple[str, str]
    ) -> tuple[str, str]:
        text = env.get_template(names[0]).render(context)
        html = env.get_template(names[1]).render(context)
        return text, html

    def compose(
        self, notification: Notification | FlapNotice | BetweenNotice, mailer: Mailer, now: float
    ) -> EmailMessage:
        """The complete message, with threading headers that keep a group in one thread."""
        text, html = self.render(notification, now)
        thread = f"<{_slug(notification.group)}.alerts@{MAIL_DOMAIN}>"
        if isinstance(notification, FlapNotice):
            status = "flapping"
        elif isinstance(notification, BetweenNotice):
            status = "between-checks"
        else:
            status = "firing" if notification.firing else "resolved"
        headers: Mapping[str, str] = {
            "References": thread,
            "In-Reply-To": thread,
            "X-Stackwatch-Group": notification.group,
            "X-Stackwatch-Status": status,
        }
        return mailer.compose(notification.subject, text, html, headers=headers)
