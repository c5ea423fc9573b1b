"""The heartbeat out: check flows on a real Prefect server (test harness) ping a local HTTP
server that records each request (standing in for healthchecks.io or Uptime Kuma, which cannot
run here): the ping URL after a successful run, the fail URL after a failed one; a server that
never answers costs at most the heartbeat's timeout and never fails the run."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from flows import checks
from flows.checks import threshold_alert_check
from stackwatch.config.notify import NotifyConfig
from stackwatch.heartbeat import fail_url, heartbeat_target, ping
from tests.support.http import LocalServer, SilentServer
from tests.support.procs import free_port
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within

FLOW = "threshold-alert-check"


class Recorder:
    """The paths (with query) of the GETs a LocalServer received."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        self.paths.append(request.path)
        return 200, b"OK"


def _config(tmp_path: Path, prometheus_url: str, heartbeat: str, timeout: str = "2s") -> str:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        f"groups:\n  - name: {FLOW}\n    rules:\n      - alert: Never\n"
        "        expr: 'vector(0) > 1'\n"
    )
    config = tmp_path / "stackwatch.yml"
    config.write_text(
        f"""
docker: {{enabled: false}}
prometheus: {{url: "{prometheus_url}", retries: 0, timeout: 5s}}
smtp: {{outbox_dir: "{tmp_path / "outbox"}"}}
state: {{path: "{tmp_path / "stackwatch.db"}"}}
rules: {{paths: ["{rules}"]}}
notify: {{heartbeat_url: "{heartbeat}", heartbeat_timeout: {timeout}}}
"""
    )
    return str(config)


def test_the_fail_url_follows_each_services_convention(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fail_url("https://hc-ping.com/0c1e6c56") == "https://hc-ping.com/0c1e6c56/fail"
    assert fail_url("https://hc-ping.com/0c1e6c56/") == "https://hc-ping.com/0c1e6c56/fail"
    kuma = NotifyConfig.model_validate(
        {
            "heartbeat_url": "https://kuma.example.org/api/push/Tk3n?status=up&msg=OK",
            "heartbeat_fail_url": "https://kuma.example.org/api/push/Tk3n?status=down&msg=failed",
        }
    )
    assert heartbeat_target(kuma, ok=False) == (
        "https://kuma.example.org/api/push/Tk3n?status=down&msg=failed"
    )
    monkeypatch.setenv("HC_URL", "https://hc-ping.com/secret-uuid")
    secret = NotifyConfig.model_validate({"heartbeat_url": {"env": "HC_URL"}})
    assert heartbeat_target(secret, ok=True) == "https://hc-ping.com/secret-uuid"
    assert heartbeat_target(secret, ok=False) == "https://hc-ping.com/secret-uuid/fail"
    assert heartbeat_target(NotifyConfig(), ok=True) is None


def test_a_silent_heartbeat_server_costs_at_most_the_timeout() -> None:
    with SilentServer() as silent:
        config = NotifyConfig.model_validate(
            {"heartbeat_url": silent.url, "heartbeat_timeout": "500ms"}
        )
        started = time.monotonic()
        assert ping(config, ok=True) is False
        assert time.monotonic() - started < within(1.5)


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_api", "own_flow_runs")
def test_one_ping_per_successful_run_and_the_fail_url_after_a_failed_one(
    tmp_path: Path, prometheus: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks.evaluate_rules, "retry_delay_seconds", [0.05, 0.05, 0.05])
    recorder = Recorder()
    with LocalServer(recorder) as server:
        heartbeat = f"{server.url}/ping/0c1e6c56"
        dead = f"http://127.0.0.1:{free_port()}"
        config = _config(tmp_path, dead, heartbeat)
        assert threshold_alert_check(config_path=config, return_state=True).is_failed()
        assert recorder.paths == ["/ping/0c1e6c56/fail"]
        _config(tmp_path, prometheus.url, heartbeat)
        for _ in range(2):
            started = time.monotonic()
            state = threshold_alert_check(config_path=config, return_state=True)
            answered = time.monotonic() - started
            assert state.is_completed(), state.message
        assert recorder.paths == ["/ping/0c1e6c56/fail", "/ping/0c1e6c56", "/ping/0c1e6c56"]

    # a heartbeat server that never answers: the run completes, late by the timeout at most
    with SilentServer() as silent:
        _config(tmp_path, prometheus.url, silent.url, timeout="1s")
        started = time.monotonic()
        state = threshold_alert_check(config_path=config, return_state=True)
        hung = time.monotonic() - started
        assert state.is_completed(), state.message
        silent.sock.setblocking(False)
        connection, _ = silent.sock.accept()  # the ping was made, and given up on
        connection.close()
        # the same run against a server that answers at once, plus the 1 s timeout
        assert hung - answered < 1.0 + within(2.0)
