"""Failure mail per failing streak, on a real Prefect server (test harness): a check flow whose
Prometheus is unreachable fails run after run, then succeeds against a real Prometheus; mail
goes to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from alerter.store import AlertStore
from flows import checks
from flows.checks import threshold_alert_check
from tests.support.chromium import WIDTHS, artifacts, mail_html, overflow, screenshot
from tests.support.procs import free_port
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_api", "own_flow_runs")]

FLOW = "threshold-alert-check"


def _write_config(tmp_path: Path, smtp: SmtpServer, prometheus_url: str, repeat: str) -> str:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        f"""
groups:
  - name: {FLOW}
    rules:
      - alert: Never
        expr: 'vector(0) > 1'
"""
    )
    config = tmp_path / "stackwatch.yml"
    config.write_text(
        f"""
docker: {{enabled: false}}
prometheus: {{url: "{prometheus_url}", retries: 0, timeout: 5s}}
smtp: {{host: 127.0.0.1, port: {smtp.port}, tls: none, from: stackwatch@example.org,
        to: [ops@example.org]}}
state: {{path: "{tmp_path / "stackwatch.db"}"}}
rules: {{paths: ["{rules}"], repeat_interval: {repeat}}}
"""
    )
    return str(config)


def _subjects(messages: list[EmailMessage]) -> list[str]:
    return [str(m["Subject"]).strip() for m in messages]


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.mark.parametrize(("repeat", "reminders"), [("4h", 0), ("1s", 2)])
def test_a_failing_flow_mails_once_reminds_per_repeat_interval_and_mails_its_recovery(
    repeat: str,
    reminders: int,
    tmp_path: Path,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three failed runs then a successful one: one failure mail (plus a reminder per run
    once ``repeat_interval`` has passed, here 1s, the shortest allowed), then one recovered
    mail."""
    monkeypatch.setattr(checks.evaluate_rules, "retry_delay_seconds", [0.05, 0.05, 0.05])
    dead = f"http://127.0.0.1:{free_port()}"
    config = _write_config(tmp_path, smtp_server, dead, repeat)
    for run in range(3):
        if run and repeat == "1s":
            time.sleep(1.1)  # the repeat interval itself is what must pass between the runs
        state = threshold_alert_check(config_path=config, return_state=True)
        assert state.is_failed()
    db = tmp_path / "stackwatch.db"
    with AlertStore(db) as store:
        assert [(e.group, e.success) for e in store.evaluations()] == [(FLOW, False)]
        assert store.flow_successes() == {}
    subjects = _subjects(smtp_server.messages)
    assert len(subjects) == 1 + reminders, subjects
    assert subjects[0].startswith(f"[FAILED] {FLOW}: ")
    assert "unreachable" in subjects[0]
    for reminder, runs in zip(smtp_server.messages[1:], (2, 3), strict=False):
        assert str(reminder["Subject"]).startswith(f"[STILL FAILING] {FLOW}: ")
        assert f"{runs} failed runs since " in _text(reminder)

    _write_config(tmp_path, smtp_server, prometheus.url, repeat)
    state = threshold_alert_check(config_path=config, return_state=True)
    assert state.is_completed(), state.message
    recovered = smtp_server.messages[1 + reminders :]
    assert _subjects(recovered) == [f"[RECOVERED] {FLOW}: after 3 failed runs"]
    assert "failing since " in _text(recovered[0])
    with AlertStore(db) as store:
        assert [(e.group, e.success) for e in store.evaluations()] == [(FLOW, True)]
        assert list(store.flow_successes()) == [FLOW]

    # the next success is ordinary: no mail
    state = threshold_alert_check(config_path=config, return_state=True)
    assert state.is_completed(), state.message
    assert len(smtp_server.messages) == 2 + reminders


@pytest.mark.parametrize("width", WIDTHS)
def test_the_failure_mail_fits_the_screen(
    width: int,
    tmp_path: Path,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The failure mail of a real failed run in headless Chromium at a mail client's width and
    a phone's: nothing wider than the screen."""
    monkeypatch.setattr(checks.evaluate_rules, "retry_delay_seconds", [0.05, 0.05, 0.05])
    config = _write_config(tmp_path, smtp_server, f"http://127.0.0.1:{free_port()}", "4h")
    state = threshold_alert_check(config_path=config, return_state=True)
    assert state.is_failed()
    html = mail_html(smtp_server.messages[-1])

    shot = screenshot(html, "failure-mail", width, artifacts(tmp_path_factory))

    assert overflow(shot) is None, overflow(shot)
