"""docker-restart-monitor on a real Docker engine: a crash-looping container is mailed once.

The real dockerd (tests/support/dockerd.py), the real exporter's Docker collector, a real
Prometheus, the shipped ``rules/docker-restart-monitor.yml``, a real SMTP server and a real
Prefect server (test harness).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.server import Exporter
from flows.checks import docker_restart_monitor
from stackwatch.config import parse_config
from tests.support.dockerd import DockerDaemon
from tests.support.prefect import artifacts_of
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_api", "own_flow_runs")]


def test_a_restart_loop_is_mailed_once_and_published(
    tmp_path: Path,
    dockerd: DockerDaemon,
    start_prometheus: Callable[..., PrometheusServer],
    smtp_server: SmtpServer,
) -> None:
    name = f"crashloop-{uuid.uuid4().hex[:8]}"
    container = dockerd.run(
        ["sh", "-c", "sleep 1; exit 1"], name=name, restart_policy={"Name": "always"}
    )
    config_text = f"""
docker: {{host: "{dockerd.host}"}}
exporter: {{collectors: {{host: false, services: false, docker: true}}}}
smtp: {{host: 127.0.0.1, port: {smtp_server.port}, tls: none, to: [ops@example.org]}}
state: {{path: "{tmp_path / "stackwatch.db"}"}}
rules: {{paths: ["{REPO / "rules" / "docker-restart-monitor.yml"}"]}}
"""
    exporter = Exporter.from_config(parse_config(config_text, "exporter.yml"))
    _, port = exporter.serve("127.0.0.1:0")
    try:
        prometheus = start_prometheus([f"127.0.0.1:{port}"])
        # the rule fires above 3; increase() extrapolates, and dockerd's restart back-off
        # spaces the restarts out, so the value wavers: wait for a margin above the threshold
        prometheus.wait_for_series(
            f'increase(container_restarts_total{{name="{name}"}}[1h]) > 5', timeout=180
        )
        config = tmp_path / "stackwatch.yml"
        config.write_text(config_text + f'prometheus: {{url: "{prometheus.url}"}}\n')

        first = docker_restart_monitor(config_path=str(config), return_state=True)
        assert first.is_completed(), first.message
        [message] = smtp_server.messages
        assert "FIRING" in message["Subject"]
        assert "ContainerRestarting" in message["Subject"]
        assert name in message.get_body(preferencelist=("plain",)).get_content()
        artifact = artifacts_of(first)["docker-restart-monitor"]
        assert "ContainerRestarting" in artifact
        assert name in artifact

        second = docker_restart_monitor(config_path=str(config), return_state=True)
        assert second.is_completed(), second.message
        assert len(smtp_server.messages) == 1
    finally:
        exporter.close()
        container.remove(force=True)
