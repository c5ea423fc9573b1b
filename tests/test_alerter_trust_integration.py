"""No false RESOLVED, end to end: a real Prometheus scrapes /metrics endpoints whose text the
test sets, run_check evaluates, and mail goes to a real SMTP server (aiosmtpd). An alert
instance ends only when its own target is up and its collector succeeded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerter.check import run_check
from alerter.check_result import CheckResult
from exporter.collectors.docker import DockerCollector
from exporter.server import Exporter
from stackwatch.config import Config
from tests.support.dockerd import required_dockerd
from tests.support.procs import wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.query_api import THANOS_WARNING, PartialQuerier
from tests.support.scraped import MetricsEndpoint, mail_parts, settle
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

RULES = Path(__file__).parent / "fixtures" / "rules" / "trust.yml"
UNHEALTHY = 'container_state_health_status{name="api",status="unhealthy"}'


def _config(url: str, smtp: SmtpServer, state: Path) -> Config:
    data: dict[str, Any] = {
        "prometheus": {"url": url, "retries": 0, "timeout": "5s"},
        "smtp": {"host": smtp.host, "port": smtp.port, "tls": "none", "to": "ops@stackwatch.test"},
        "rules": {"paths": [str(RULES)]},
        "state": {"path": str(state)},
    }
    return Config.model_validate(data)


def _states(result: CheckResult) -> dict[tuple[str, str], str]:
    return {
        (a.alertname, a.labels.get("host") or a.labels.get("cause", "")): a.state
        for a in result.alerts
    }


def test_one_down_target_blinds_only_its_own_alerts(
    start_prometheus: Any, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Two exporters of the job: one goes down; its alert stays firing, the other's resolves."""
    one, two = MetricsEndpoint(), MetricsEndpoint()
    with one.server, two.server:
        prometheus: PrometheusServer = start_prometheus([one.target, two.target])
        one.set('test_disk_ratio{host="one"}', 0.97)
        two.set('test_disk_ratio{host="two"}', 0.95)
        wait = "count(test_disk_ratio > 0.9) == 2"
        settle(prometheus, wait)
        config = _config(prometheus.url, smtp_server, tmp_path / "state.db")
        first = run_check(config, "per-target-test")
        assert first.sent == ["[FIRING:2] per-target-test: DiskAlmostFull"]

        one.down = True
        two.set('test_disk_ratio{host="two"}', 0.5)
        settle(prometheus, f'up{{instance="{one.target}"}} == 0')
        settle(prometheus, "test_disk_ratio > 0.9", present=False)
        result = run_check(config, "per-target-test")
        assert _states(result) == {
            ("DiskAlmostFull", "one"): "firing",
            ("DiskAlmostFull", "two"): "resolved",
            ("MonitoringBlind", "target_down"): "firing",
        }
        [blind] = [a for a in result.alerts if a.alertname == "MonitoringBlind"]
        assert blind.labels["instance"] == one.target
        assert one.target in blind.summary
        assert result.sent == [
            "[FIRING:2] per-target-test: DiskAlmostFull, MonitoringBlind (resolved: DiskAlmostFull)"
        ]
        text, _html = mail_parts(smtp_server.messages[-1])
        resolved = text[text.index("RESOLVED (1)") :]
        assert "disk of two" in resolved
        assert "disk of one" not in resolved

        # back, and still full: the same episode, no new FIRING for it
        one.down = False
        settle(prometheus, f'up{{instance="{one.target}"}} == 1')
        again = run_check(config, "per-target-test")
        assert _states(again) == {
            ("DiskAlmostFull", "one"): "firing",
            ("MonitoringBlind", "target_down"): "resolved",
        }
        assert again.sent == [
            "[FIRING:1] per-target-test: DiskAlmostFull (resolved: MonitoringBlind)"
        ]


def test_failed_collector_keeps_its_alerts_and_names_the_collector(
    start_prometheus: Any, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The exporter stays up while its Docker collector fails (dockerd stopped with
    --live-restore): the container series are gone, the container is still unhealthy."""
    exporter = MetricsEndpoint()
    with exporter.server:
        prometheus: PrometheusServer = start_prometheus([exporter.target])
        exporter.set('stackwatch_scrape_collector_success{collector="docker"}', 1)
        exporter.set('stackwatch_scrape_collector_success{collector="host"}', 1)
        exporter.set(UNHEALTHY, 1)
        settle(prometheus, "container_state_health_status == 1")
        config = _config(prometheus.url, smtp_server, tmp_path / "state.db")
        assert run_check(config, "collector-test").sent == [
            "[FIRING:1] collector-test: ContainerUnhealthy"
        ]

        del exporter.lines[UNHEALTHY]
        exporter.set('stackwatch_scrape_collector_success{collector="docker"}', 0)
        settle(prometheus, 'stackwatch_scrape_collector_success{collector="docker"} == 0')
        settle(prometheus, "container_state_health_status", present=False)
        blind = run_check(config, "collector-test")
        states = {a.alertname: a for a in blind.alerts}
        assert states["ContainerUnhealthy"].state == "firing"
        assert states["MonitoringBlind"].labels["collector"] == "docker"
        assert states["MonitoringBlind"].labels["cause"] == "collector_failed"
        assert "Collector docker of" in states["MonitoringBlind"].summary
        assert blind.sent == ["[FIRING:2] collector-test: ContainerUnhealthy, MonitoringBlind"]

        exporter.set('stackwatch_scrape_collector_success{collector="docker"}', 1)
        exporter.set(UNHEALTHY, 1)
        settle(prometheus, "container_state_health_status == 1")
        back = run_check(config, "collector-test")
        assert back.sent == [
            "[FIRING:1] collector-test: ContainerUnhealthy (resolved: MonitoringBlind)"
        ]
        assert [a.state for a in back.alerts if a.alertname == "ContainerUnhealthy"] == ["firing"]
        subjects = [m["Subject"] for m in smtp_server.messages]
        assert not any("ContainerUnhealthy" in s and "RESOLVED" in s for s in subjects)
        assert "RESOLVED" not in "".join(subjects)


@pytest.mark.parametrize("flag", ["warnings", "isPartial"])
def test_partial_response_resolves_nothing(
    flag: str, start_prometheus: Any, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """A partial response: a local server stands in for a Thanos/Mimir (or VictoriaMetrics)
    querier in front of the real Prometheus, since none of them runs here and Prometheus never
    answers partially; it leaves the series out and says so in ``warnings`` or ``isPartial``."""
    exporter = MetricsEndpoint()
    with exporter.server:
        prometheus: PrometheusServer = start_prometheus([exporter.target])
        exporter.set('test_disk_ratio{host="nas"}', 0.97)
        settle(prometheus, "test_disk_ratio > 0.9")
        with PartialQuerier(prometheus.url) as querier:
            querier.is_partial = flag == "isPartial"
            config = _config(querier.url, smtp_server, tmp_path / "state.db")
            assert run_check(config, "per-target-test").sent == [
                "[FIRING:1] per-target-test: DiskAlmostFull"
            ]
            querier.partial_for = ["test_disk_ratio"]
            partial = run_check(config, "per-target-test")
            assert _states(partial) == {
                ("DiskAlmostFull", "nas"): "firing",
                ("MonitoringBlind", "partial_response"): "firing",
            }
            [blind] = [a for a in partial.alerts if a.alertname == "MonitoringBlind"]
            assert blind.labels["rule"] == "DiskAlmostFull"
            assert partial.sent == ["[FIRING:2] per-target-test: DiskAlmostFull, MonitoringBlind"]
            text, _html = mail_parts(smtp_server.messages[-1])
            expected = THANOS_WARNING if flag == "warnings" else "marked its answer partial"
            assert expected in text

            # the facts on targets partial too: still nothing resolves
            querier.partial_for = ["test_disk_ratio", "up", "stackwatch_scrape"]
            worse = run_check(config, "per-target-test")
            assert _states(worse)[("DiskAlmostFull", "nas")] == "firing"
            assert "RESOLVED" not in "".join(m["Subject"] for m in smtp_server.messages)


def test_dockerd_stopped_with_live_restore_resolves_nothing(
    start_prometheus: Any, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The real thing: a dockerd with --live-restore runs an unhealthy container, the real
    exporter's Docker collector follows it; dockerd stops (the container keeps running, still
    unhealthy) and comes back. One FIRING, no RESOLVED, no second FIRING."""
    with required_dockerd(live_restore=True) as dockerd:
        healthcheck = {"test": ["CMD", "false"], "interval": int(2e8), "timeout": int(1e9)}
        container = dockerd.run("sleep 300", name="api", healthcheck={**healthcheck, "retries": 1})
        docker = DockerCollector.from_config(
            Config.model_validate({"docker": {"host": dockerd.host, "timeout": "5s"}})
        )
        exporter = Exporter({"docker": docker})
        host, port = exporter.serve("127.0.0.1:0")
        try:
            prometheus: PrometheusServer = start_prometheus([f"{host}:{port}"])
            settle(prometheus, UNHEALTHY + " == 1")
            config = _config(prometheus.url, smtp_server, tmp_path / "state.db")
            assert run_check(config, "collector-test").sent == [
                "[FIRING:1] collector-test: ContainerUnhealthy"
            ]

            dockerd.terminate()
            settle(prometheus, 'stackwatch_scrape_collector_success{collector="docker"} == 0')
            settle(prometheus, "container_state_health_status", present=False)
            blind = run_check(config, "collector-test")
            states = {a.alertname: a for a in blind.alerts}
            assert states["ContainerUnhealthy"].state == "firing"
            assert states["MonitoringBlind"].labels["collector"] == "docker"

            dockerd.restart()
            settle(prometheus, UNHEALTHY + " == 1")
            wait_for(lambda: container.reload() or container.status == "running", 10, "api")
            back = run_check(config, "collector-test")
            assert [a.state for a in back.alerts if a.alertname == "ContainerUnhealthy"] == [
                "firing"
            ]
            subjects = [m["Subject"] for m in smtp_server.messages]
            assert "RESOLVED" not in "".join(subjects)
            assert sum(s.endswith(": ContainerUnhealthy") for s in subjects) == 1
        finally:
            exporter.close()
