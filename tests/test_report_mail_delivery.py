"""The daily report's "Mail delivery" part: dead alert mail and mail waiting for a retry.

The mail dies for real: the outbox is delivered to a real SMTP server (aiosmtpd) that refuses
one message for good, one recipient for good and defers another message; then the daily report
is built against a real Prometheus and mailed through the same server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from alerter.delivery import deliver
from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.mail import Mailer, compose
from stackwatch.reports.daily import build_daily_report, send_daily_report
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

TO = ["ops@stackwatch.test", "oncall@stackwatch.test"]


def _answer(message: EmailMessage) -> str | None:
    subject = str(message["Subject"])
    if subject.startswith("[FIRING:1] threshold: Huge"):
        return "552 5.3.4 Message size exceeds fixed limit"
    if subject.startswith("[FIRING:1] services: Later"):
        return "451 4.3.0 Try again later"
    return None


def _parts(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    assert isinstance(html, EmailMessage)
    assert isinstance(text, EmailMessage)
    return html.get_content(), text.get_content().replace("\r\n", "\n")


def test_dead_mail_and_mail_waiting_for_a_retry_are_in_the_report(
    smtp_server: SmtpServer, start_prometheus: Callable[..., PrometheusServer], tmp_path: Path
) -> None:
    prometheus = start_prometheus([])
    smtp = {"host": "127.0.0.1", "port": smtp_server.port, "tls": "none", "timeout": "5s"}
    config = Config.model_validate(
        {
            "smtp": {**smtp, "from": "stackwatch@stackwatch.test", "to": ["ops@stackwatch.test"]},
            "state": {"path": str(tmp_path / "state.db")},
            "prometheus": {"url": prometheus.url, "retries": 0, "timeout": "5s"},
            "docker": {"enabled": False},
        }
    )
    smtp_server.refuse_data = _answer
    smtp_server.refuse_rcpt = lambda a: "550 5.1.1 No such user" if a.startswith("oncall") else None
    now = time.time()
    with AlertStore(config.state.path) as store:
        for group, subject in (
            ("threshold", "[FIRING:1] threshold: Huge"),
            ("docker", "[FIRING:1] docker: OneRefused"),
            ("services", "[FIRING:1] services: Later"),
        ):
            message = compose(subject, "body", "<p>body</p>", sender="a@stackwatch.test", to=TO)
            store.enqueue(group, subject, message.as_bytes(), now - 7200)
        deliver(store, Mailer(config.smtp), now - 7200)
        assert len(store.dead()) == 2
        assert [m.subject for m in store.queued()] == ["[FIRING:1] services: Later"]

    smtp_server.refuse_rcpt = None
    report = build_daily_report(config, flow_runs=None)
    send_daily_report(config, report)

    [sent] = [m for m in smtp_server.messages if "Daily summary" in str(m["Subject"])]
    html, text = _parts(sent)
    attention = text[: text.index("\nServer\n")]
    assert "2 alert mail(s) not delivered (dead)" in attention
    assert "1 mail(s) waiting for a retry, the oldest queued 2 h 0 min ago" in attention
    assert "need(s) attention" in str(sent["Subject"])

    part = text[text.index("\nMail delivery\n") :]
    assert "2 alert mail(s) dead in the last 24 h." in part
    assert re.search(
        r"! \d{4}-\d\d-\d\d \d\d:\d\d UTC\s+\[FIRING:1\] threshold: Huge\s+"
        r"ops@stackwatch.test, oncall@stackwatch.test\s+.*552 5.3.4 Message size exceeds",
        part,
    )
    assert re.search(
        r"\[FIRING:1\] docker: OneRefused\s+oncall@stackwatch.test\s+550 5.1.1 No such user", part
    )
    assert "(its last answer: SMTP server 127.0.0.1:" in part
    assert "451 4.3.0 Try again later" in part

    for needle in (
        ">Mail delivery</h2>",
        "[FIRING:1] threshold: Huge",
        "ops@stackwatch.test, oncall@stackwatch.test",
        "552 5.3.4 Message size exceeds fixed limit",
        "[FIRING:1] docker: OneRefused",
        "550 5.1.1 No such user",
        "1 mail(s) waiting for a retry",
    ):
        assert needle in html, needle
    assert re.search(r"<td[^>]*>\d{4}-\d\d-\d\d \d\d:\d\d UTC</td>", html)


def test_without_dead_mail_the_part_says_so(tmp_path: Path) -> None:
    config: Any = Config.model_validate(
        {
            "state": {"path": str(tmp_path / "state.db")},
            "prometheus": {"url": "http://127.0.0.1:9", "retries": 0, "timeout": "1s"},
            "docker": {"enabled": False},
        }
    )
    text = build_daily_report(config, flow_runs=None).text
    assert "Mail delivery: no alert database at" in text
    with AlertStore(config.state.path) as store:
        sent = store.enqueue("g", "[FIRING:1] g: A", b"a", time.time())
        store.mark_sent(sent, time.time())
    text = build_daily_report(config, flow_runs=None).text
    part = text[text.index("\nMail delivery\n") :]
    assert "No alert mail died in the last 24 h." in part
    assert "No mail is waiting for a retry." in part
    assert "mail(s) not delivered" not in text
