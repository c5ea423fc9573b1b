"""Shared fixtures: real Prometheus, SMTP, dockerd and Prefect servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.compose import compose_config
from tests.support.dockerd import DockerDaemon, required_dockerd
from tests.support.launcher import Launcher, launcher_config
from tests.support.procs import require_binary
from tests.support.prometheus import PrometheusServer
from tests.support.scraped import MetricsEndpoint
from tests.support.smtp import SmtpServer
from tests.support.timing import within

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


@pytest.fixture(scope="module")
def endpoint() -> Iterator[MetricsEndpoint]:
    """A /metrics endpoint whose series the test sets, one per test module."""
    endpoint = MetricsEndpoint()
    with endpoint.server:
        yield endpoint


@pytest.fixture(scope="module")
def prometheus(
    endpoint: MetricsEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping ``endpoint`` every second, one per test module."""
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), [endpoint.target]).start()
    server.wait_for_series('up{job="stackwatch"} == 1')
    yield server
    server.stop()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """``make run``'s launcher on free ports with ``launcher_config``, not yet started; Ctrl-C
    at the end if it still runs."""
    require_binary("prometheus", "prometheus")
    running = Launcher(tmp_path, launcher_config(tmp_path))
    yield running
    if running.process is not None and running.process.poll() is None:
        running.stop()


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
def prefect_api() -> Iterator[str]:
    """The API URL of a real Prefect server (``prefect_test_harness``) on a temp SQLite DB.

    One for the whole session: it starts in 16-20 s here, and only when a test asks for it.
    """
    # Imported here, not at the top: importing Prefect takes seconds, which the many tests that
    # need no Prefect server should not pay.
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=int(within(120))):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="module")
def own_flow_runs(prefect_api: str) -> Iterator[None]:
    """Delete the flow runs a module created, so the modules sharing the server (a report that
    counts the day's runs, say) see only their own."""
    from tests.support.prefect import delete_flow_runs, flow_run_ids

    before = flow_run_ids()
    yield
    delete_flow_runs(flow_run_ids() - before)


@pytest.fixture(scope="session")
def resolved_compose() -> dict[str, Any]:
    """docker-compose.yml as docker-compose resolves it with .env.example (all profiles)."""
    result = compose_config("--profile", "mail", "config")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config
