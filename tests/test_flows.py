"""The check flows in a real Prefect server (test harness), against a real Prometheus scraping
the real exporter, with mail to a real SMTP server.

Each test writes its own rule group, named after the flow that evaluates it, with a rule that
holds on this machine's live metrics; what the shipped rules mean is tested with promtool and
the alerter's own tests. Here the subject is the flow: it evaluates its group, mails once, logs
and publishes what it saw, and mails its own failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from exporter.server import Exporter
from flows import checks
from flows.catalogued import catalogued_flow
from flows.checks import (
    k8s_health_check,
    services_health_check,
    system_health_check,
    threshold_alert_check,
)
from flows.report_flows import daily_summary_report, weekly_cleanup_report
from flows.schedules import OVERRIDES_ENV
from stackwatch.cli import main
from stackwatch.config import parse_config
from tests.support.http import TricklingServer
from tests.support.prefect import artifacts_of, task_runs_of
from tests.support.procs import free_port
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer
from tests.support.timing import within

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_api", "own_flow_runs")]

UI = "http://prefect.example.org:4200"


@dataclass
class Monitored:
    """The real exporter (in this process) and a real Prometheus scraping it every second."""

    prometheus: PrometheusServer
    dead_service_url: str


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    dead_url = f"http://127.0.0.1:{free_port()}/health"
    config = parse_config(
        f"""
docker: {{enabled: false}}
exporter: {{collectors: {{host: true, services: true}}, probe_interval: 1s}}
services: [{{name: billing-api, url: "{dead_url}", timeout: 1s}}]
""",
        "exporter.yml",
    )
    exporter = Exporter.from_config(config)
    _, port = exporter.serve("127.0.0.1:0")
    prometheus = PrometheusServer(tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{port}"])
    try:
        prometheus.start()
        prometheus.wait_for_series('probe_success{job="stackwatch"} == 0')
        prometheus.wait_for_series('rate(node_cpu_seconds_total{mode="idle"}[5m])')
        yield Monitored(prometheus, dead_url)
    finally:
        prometheus.stop()
        exporter.close()


def write_config(
    tmp_path: Path,
    monitored: Monitored,
    smtp: SmtpServer,
    group: str,
    alert: str,
    expr: str,
    prometheus_url: str | None = None,
) -> str:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        f"""
groups:
  - name: {group}
    rules:
      - alert: {alert}
        expr: '{expr}'
        labels: {{severity: critical}}
        annotations: {{summary: "{alert} on {{{{ $labels.instance }}}}"}}
"""
    )
    config = tmp_path / "stackwatch.yml"
    config.write_text(
        f"""
docker: {{enabled: false}}
cleanup: {{docker: {{enabled: false}}}}
services: [{{name: billing-api, url: "{monitored.dead_service_url}", timeout: 1s}}]
prometheus: {{url: "{prometheus_url or monitored.prometheus.url}", retries: 0, timeout: 5s}}
smtp: {{host: 127.0.0.1, port: {smtp.port}, tls: none, from: stackwatch@example.org,
        to: [ops@example.org]}}
state: {{path: "{tmp_path / "stackwatch.db"}"}}
rules: {{paths: ["{rules}"]}}
links: {{prefect_ui_url: "{UI}"}}
"""
    )
    return str(config)


def subjects(messages: list[EmailMessage]) -> list[str]:
    return [str(message["Subject"]) for message in messages]


MAILING_CHECKS = [
    (services_health_check, "ServiceDown", 'probe_success{job="stackwatch"} == 0'),
    (
        threshold_alert_check,
        "MemoryInUse",
        "node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes > 0",
    ),
    (k8s_health_check, "ClusterProbeScraped", 'up{job="stackwatch"} == 1'),
]


@pytest.mark.parametrize(
    ("check", "alert", "expr"), MAILING_CHECKS, ids=[c[0].name for c in MAILING_CHECKS]
)
def test_a_firing_rule_is_mailed_once_and_published(
    check: Any,
    alert: str,
    expr: str,
    tmp_path: Path,
    monitored: Monitored,
    smtp_server: SmtpServer,
) -> None:
    config = write_config(tmp_path, monitored, smtp_server, check.name, alert, expr)

    first = check(config_path=config, return_state=True)
    assert first.is_completed(), first.message
    [subject] = subjects(smtp_server.messages)
    assert "FIRING" in subject
    assert check.name in subject
    assert alert in subject
    assert first.result()["sent"] == [subject]
    artifact = artifacts_of(first)[check.name]
    assert alert in artifact
    assert "firing" in artifact.lower()

    second = check(config_path=config, return_state=True)
    assert second.is_completed(), second.message
    assert len(smtp_server.messages) == 1, subjects(smtp_server.messages)
    assert second.result()["sent"] == []
    assert alert in artifacts_of(second)[check.name]


def test_system_health_check_logs_values_and_alerts_but_mails_nothing(
    tmp_path: Path, monitored: Monitored, smtp_server: SmtpServer
) -> None:
    config = write_config(
        tmp_path,
        monitored,
        smtp_server,
        "system-health-check",
        "ProcessesRunning",
        'node_procs_running{job="stackwatch"} > 0',
    )
    state = system_health_check(config_path=config, return_state=True)
    assert state.is_completed(), state.message
    values = state.result()["values"]
    assert 0 < values["RAM used"] < 1
    assert 0 <= values["CPU used"] <= 1
    assert values["Processes"] > 1
    assert any(name.startswith("Disk used /") for name in values), values
    artifact = artifacts_of(state)["system-health-check"]
    for reading in ("CPU used", "RAM used", "Disk used", "Containers", "Processes", "Threads"):
        assert f"| {reading} |" in artifact
    assert "ProcessesRunning" in artifact
    assert smtp_server.messages == []


def test_prometheus_down_fails_after_retries_with_one_failure_mail(
    tmp_path: Path, monitored: Monitored, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks.evaluate_rules, "retry_delay_seconds", [0.2, 0.2, 0.2])
    dead = f"http://127.0.0.1:{free_port()}"
    config = write_config(
        tmp_path,
        monitored,
        smtp_server,
        "threshold-alert-check",
        "MemoryInUse",
        "node_memory_MemTotal_bytes > 0",
        prometheus_url=dead,
    )
    state = threshold_alert_check(config_path=config, return_state=True)
    assert state.is_failed()
    assert task_runs_of(state)["evaluate-rules"] == 4  # the first try and three retries
    [message] = smtp_server.messages
    run_id = UUID(str(state.state_details.flow_run_id))
    assert message["Subject"].startswith("[FAILED] threshold-alert-check: ")
    assert "unreachable" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"{UI}/runs/flow-run/{run_id}" in text
    assert dead in text


def test_daily_report_flow_mails_and_publishes_the_report(
    tmp_path: Path, monitored: Monitored, smtp_server: SmtpServer
) -> None:
    config = write_config(
        tmp_path, monitored, smtp_server, "threshold-alert-check", "Never", "vector(0) > 1"
    )
    state = daily_summary_report(config_path=config, return_state=True)
    assert state.is_completed(), state.message
    [message] = smtp_server.messages
    assert message["Subject"] == state.result()["subject"]
    assert message["Subject"].startswith("[stackwatch] Daily summary ")
    assert artifacts_of(state)["daily-summary-report"].strip()


def test_weekly_cleanup_flow_dry_run_mails_what_it_would_remove(
    tmp_path: Path, monitored: Monitored, smtp_server: SmtpServer
) -> None:
    config = write_config(
        tmp_path, monitored, smtp_server, "threshold-alert-check", "Never", "vector(0) > 1"
    )
    state = weekly_cleanup_report(config_path=config, dry_run=True, return_state=True)
    assert state.is_completed(), state.message
    [message] = smtp_server.messages
    assert message["Subject"] == state.result()["subject"]
    assert artifacts_of(state)["weekly-cleanup-report"].strip()


def test_flows_run_command_runs_one_flow_now(
    tmp_path: Path,
    monitored: Monitored,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(
        tmp_path,
        monitored,
        smtp_server,
        "services-health-check",
        "ServiceDown",
        'probe_success{job="stackwatch"} == 0',
    )
    assert main(["flows", "run", "services-health-check", "--config", config]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["alerts"] == {"firing": 1}
    [subject] = result["sent"]
    assert subjects(smtp_server.messages) == [subject]


def test_flows_run_command_exits_1_when_the_run_fails(
    tmp_path: Path,
    monitored: Monitored,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(checks.evaluate_rules, "retry_delay_seconds", [0.1, 0.1, 0.1])
    config = write_config(
        tmp_path,
        monitored,
        smtp_server,
        "k8s-health-check",
        "Never",
        "vector(0) > 1",
        prometheus_url=f"http://127.0.0.1:{free_port()}",
    )
    assert main(["flows", "run", "k8s-health-check", "--config", config]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stackwatch: k8s-health-check ended Failed: ")
    assert "unreachable" in err


# A Prometheus cannot be made to send slowly: in these two tests it is a local server that
# trickles its answer, 33 s for all of it, each byte well within any per-read timeout.
SLOW_ANSWER = b'{"status": "success", "data": {}}' * 20


def slow_prometheus_config(
    tmp_path: Path, monitored: Monitored, smtp: SmtpServer, url: str, timeout: str
) -> str:
    config = write_config(
        tmp_path, monitored, smtp, "threshold-alert-check", "Never", "vector(0) > 1", url
    )
    path = Path(config)
    path.write_text(path.read_text().replace("timeout: 5s", f"timeout: {timeout}"))
    return config


def test_a_trickling_prometheus_fails_the_run_at_prometheus_timeout(
    tmp_path: Path, monitored: Monitored, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks.evaluate_rules, "retry_delay_seconds", [0.1, 0.1, 0.1])
    with TricklingServer(SLOW_ANSWER, interval=0.05) as slow:
        config = slow_prometheus_config(tmp_path, monitored, smtp_server, slow.url, "500ms")
        started = time.monotonic()
        # the run's own timeout only bounds the test: the query's deadline ends it first
        state = threshold_alert_check.with_options(timeout_seconds=15)(
            config_path=config, return_state=True
        )
    assert time.monotonic() - started < within(8)
    assert state.is_failed()
    assert task_runs_of(state)["evaluate-rules"] == 4  # the first try and three retries
    [message] = smtp_server.messages
    assert message["Subject"].startswith("[FAILED] threshold-alert-check: ")
    assert (
        f"Prometheus at {slow.url} did not answer within its timeout of 0.5s "
        "(prometheus.timeout)" in message["Subject"]
    )


def test_a_run_past_its_timeout_ends_failed_with_one_failure_mail(
    tmp_path: Path, monitored: Monitored, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run timeout follows the flow's schedule, here replaced by one every 2 s as
    ``flows.serve --schedule`` hands it to its runs: 1 s; the slow Prometheus outlasts it under
    a long ``prometheus.timeout``."""
    monkeypatch.setenv(OVERRIDES_ENV, "threshold-alert-check=2s")
    flow = catalogued_flow()(checks.threshold_alert_check.fn)
    assert flow.timeout_seconds == 1.0
    with TricklingServer(SLOW_ANSWER, interval=0.05) as slow:
        config = slow_prometheus_config(tmp_path, monitored, smtp_server, slow.url, "60s")
        started = time.monotonic()
        state = flow(config_path=config, return_state=True)
    assert time.monotonic() - started < within(8)
    assert state.is_failed()
    assert state.name == "TimedOut"
    [message] = smtp_server.messages
    # strip(): the subject is long enough for its header to be folded after "Subject:"
    assert message["Subject"].strip() == (
        "[FAILED] threshold-alert-check: Flow run exceeded timeout of 1.0 second(s)"
    )
