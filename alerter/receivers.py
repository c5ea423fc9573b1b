"""Receivers beyond email: Alertmanager's webhook JSON and Apprise URLs.

What a receiver is sent is built when the notification is queued (the outbox holds the exact
body, as it holds the exact mail); the URL, which may carry a token, is read from the config
only when the message is sent, so no secret is ever written to the state database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from alerter.between import BetweenNotice
from alerter.errors import AlerterError
from alerter.model import FIRING, RESOLVED, AlertState
from alerter.notify import FlapNotice, MailRenderer, Notification
from alerter.routing import Routed
from stackwatch.config import AppriseReceiver, Config, Secret, WebhookReceiver
from stackwatch.links import prometheus_graph_url

log = logging.getLogger(__name__)

WEBHOOK_VERSION = "4"
#: Go's zero time, which Alertmanager sends as the endsAt of a firing alert
ZERO_TIME = "0001-01-01T00:00:00Z"
USER_AGENT = "stackwatch"


class ReceiverError(AlerterError):
    """A receiver refused a message for good: sending it again cannot help."""


class TransientReceiverError(ReceiverError):
    """A receiver could not be reached or answered that it cannot take the message now."""


def rfc3339(ts: float | None) -> str:
    """A time as Alertmanager writes it (Go's RFC 3339 with the fraction's trailing zeros
    dropped): ``2026-12-02T05:34:16.12Z``, ``2026-12-02T05:34:16Z``."""
    if ts is None:
        return ZERO_TIME
    moment = datetime.fromtimestamp(ts, tz=UTC)
    whole = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return f"{whole}.{fraction}Z" if fraction else f"{whole}Z"


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's (Prometheus's) fingerprint of a label set: FNV-1a over the sorted names
    and values, so a consumer that keys alerts by fingerprint sees the same value from both."""
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in (*part.encode(), _SEPARATOR):
                digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in sorted(first.items()) if all(m.get(k) == v for m in maps[1:])}


def _alerts(notification: Notification | FlapNotice | BetweenNotice) -> list[AlertState]:
    if isinstance(notification, FlapNotice):
        return [a for a, _ in notification.alerts]
    if isinstance(notification, BetweenNotice):  # each one fired and resolved already
        return [
            AlertState(
                e.fingerprint,
                e.group,
                e.alertname,
                e.labels,
                e.annotations,
                RESOLVED,
                e.peak,
                e.active_since,
                fired_at=e.fired_at,
                resolved_at=e.resolved_at,
                expr=e.expr,
            )
            for e in notification.episodes
        ]
    return [*notification.firing, *notification.resolved]


def _webhook_alert(alert: AlertState, prometheus_url: str, now: float) -> dict[str, Any]:
    resolved = alert.state == RESOLVED
    return {
        "status": "resolved" if resolved else "firing",
        "labels": dict(sorted(alert.labels.items())),
        "annotations": dict(sorted(alert.annotations.items())),
        "startsAt": rfc3339(alert.fired_at if alert.fired_at is not None else alert.active_since),
        "endsAt": rfc3339(alert.resolved_at or now) if resolved else ZERO_TIME,
        "generatorURL": prometheus_graph_url(prometheus_url, alert.expr) if alert.expr else "",
        "fingerprint": label_fingerprint(alert.labels),
    }


def webhook_payload(
    routed: Routed, config: Config, now: float, max_alerts: int = 0
) -> dict[str, Any]:
    """The body Alertmanager posts to a webhook (version 4), field for field."""
    alerts = _alerts(routed.notification)
    prometheus_url = (config.links.prometheus_url or config.prometheus.url).rstrip("/")
    shown = alerts[:max_alerts] if max_alerts else alerts
    firing = any(a.state == FIRING for a in alerts) or isinstance(routed.notification, FlapNotice)
    return {
        "receiver": routed.receiver,
        "status": "firing" if firing else "resolved",
        "alerts": [_webhook_alert(a, prometheus_url, now) for a in shown],
        "groupLabels": dict(routed.group_labels),
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": config.links.prefect_ui_url or prometheus_url,
        "version": WEBHOOK_VERSION,
        "groupKey": routed.group_key,
        "truncatedAlerts": len(alerts) - len(shown),
    }


def webhook_body(routed: Routed, config: Config, receiver: WebhookReceiver, now: float) -> bytes:
    payload = webhook_payload(routed, config, now, receiver.max_alerts)
    return json.dumps(payload, ensure_ascii=False).encode()


def apprise_body(routed: Routed, renderer: MailRenderer, now: float) -> bytes:
    """Title and text for Apprise: the subject and the text part of the alert mail."""
    text, _html = renderer.render(routed.notification, now)
    return json.dumps({"title": routed.notification.subject, "body": text}).encode()


def send_webhook(receiver: WebhookReceiver, body: bytes) -> None:
    """POST ``body``; 2xx is delivered, 429 and 5xx (or no answer) are worth retrying, any
    other answer is a refusal. Messages name the answer, never the URL (it may hold a token)."""
    url = receiver.url.get() if isinstance(receiver.url, Secret) else receiver.url
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=receiver.timeout)
    except httpx.HTTPError as exc:
        raise TransientReceiverError(f"webhook unreachable: {type(exc).__name__}") from None
    if 200 <= response.status_code < 300:
        return
    answer = f"webhook answered {response.status_code}: {response.text[:200].strip()}".strip()
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientReceiverError(answer)
    raise ReceiverError(answer)


def send_apprise(receiver: AppriseReceiver, body: bytes) -> None:
    """Notify through Apprise; a URL Apprise cannot read is a refusal, a failed send is
    retried (Apprise says only that it failed; its log says why)."""
    import apprise

    message = json.loads(body)
    notifier = apprise.Apprise()
    if not notifier.add(receiver.url.get()):
        raise ReceiverError("Apprise does not recognise the URL (see apprise --details)")
    ok = notifier.notify(
        body=message["body"], title=message["title"], body_format=apprise.NotifyFormat.TEXT
    )
    if not ok:
        raise TransientReceiverError("Apprise could not deliver the notification")
