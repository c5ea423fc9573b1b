"""Settings and queued mail shared by the outbox tests: a real SMTP server, a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.mail import compose
from tests.support.smtp import SmtpServer

SENDER = "alerts@stackwatch.test"
TO = ["ops@stackwatch.test", "oncall@stackwatch.test"]


def smtp_settings(server: SmtpServer, to: list[str] | None = None, **smtp: Any) -> dict[str, Any]:
    """The ``smtp:`` section for ``server``: plain SMTP, a short timeout, ``smtp`` on top."""
    return {
        "host": server.host,
        "port": server.port,
        "tls": "none",
        "from": SENDER,
        "to": TO if to is None else to,
        "timeout": "5s",
        **smtp,
    }


def outbox_config(server: SmtpServer, tmp_path: Path, **smtp: Any) -> Config:
    """A configuration that delivers to ``server`` and keeps its state under ``tmp_path``."""
    return Config.model_validate(
        {"smtp": smtp_settings(server, **smtp), "state": {"path": str(tmp_path / "state.db")}}
    )


def queue_mail(store: AlertStore, subject: str, now: float, group: str = "g") -> int:
    """Queue a small mail with ``subject`` for ``group``, as the notifier would; its id."""
    message = compose(subject, "body", "<p>body</p>", sender=SENDER, to=TO)
    return store.enqueue(group, subject, message.as_bytes(), now)
