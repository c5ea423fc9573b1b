"""Shared fixtures: real Prometheus and SMTP servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.compose import compose_config
from tests.support.dockerd import DockerDaemon, required_dockerd
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer

# Unit tests of the logic never start a Prefect server by accident.
os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false")


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """Start a real Prometheus scraping the given targets every second."""
    servers: list[PrometheusServer] = []

    def start(targets: Sequence[str], **kwargs: object) -> PrometheusServer:
        workdir = tmp_path / f"prometheus-{len(servers)}"
        workdir.mkdir()
        server = PrometheusServer(workdir, targets, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on a free loopback port."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dockerd() -> Iterator[DockerDaemon]:
    """A real dockerd on its own socket for the whole session, with the busybox test image."""
    with required_dockerd() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def resolved_compose() -> dict[str, Any]:
    """docker-compose.yml as docker-compose resolves it with .env.example (all profiles)."""
    result = compose_config("--profile", "mail", "config")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config
