"""The Docker collector on a real Docker engine (Debian's dockerd on its own socket)."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest

from exporter.collectors import build_collectors
from exporter.collectors.docker import DockerCollector
from exporter.collectors.host import HostCollector
from exporter.containers.model import container_name, parse_docker_time, parse_inspect
from exporter.registry import build_registry
from exporter.server import Exporter
from stackwatch.config import Config
from tests.support.dockerd import DockerDaemon, required_dockerd
from tests.support.http import LocalServer
from tests.support.procs import wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within

STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")

# Labels in exposition order; ID is the container id, NOW the scrape time.
_L = (
    'container_label_com_docker_compose_project="shop",'
    'container_label_com_docker_compose_service="web",id="ID",'
    'image="stackwatch-busybox:test",name="NAME"'
)
GOLDEN = f"""\
container_last_seen{{{_L}}} NOW
container_health_state{{{_L}}} -1.0
container_state_status{{{_L},status="created"}} 1.0
container_state_status{{{_L},status="running"}} 0.0
container_state_status{{{_L},status="paused"}} 0.0
container_state_status{{{_L},status="restarting"}} 0.0
container_state_status{{{_L},status="removing"}} 0.0
container_state_status{{{_L},status="exited"}} 0.0
container_state_status{{{_L},status="dead"}} 0.0
container_state_health_status{{{_L},status="none"}} 1.0
container_state_health_status{{{_L},status="starting"}} 0.0
container_state_health_status{{{_L},status="healthy"}} 0.0
container_state_health_status{{{_L},status="unhealthy"}} 0.0
container_restarts_total{{{_L}}} 0.0"""


def docker_config(host: str) -> Config:
    return Config.model_validate({"docker": {"host": host, "timeout": "5s"}})


def unique(prefix: str) -> str:
    return f"sw-{prefix}-{uuid.uuid4().hex[:8]}"


def labels_of(container: Any) -> dict[str, str]:
    """cAdvisor's label set for a container of the test image without compose labels."""
    return {"name": container.name, "image": "stackwatch-busybox:test", "id": container.id}


def value(registry: CollectorRegistry, name: str, labels: dict[str, str]) -> float | None:
    return registry.get_sample_value(name, labels)


def success(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("stackwatch_scrape_collector_success", {"collector": "docker"})


class CountingClient:
    """The real API client, recording its list and inspect calls in ``calls``."""

    def __init__(
        self,
        api: docker.APIClient,
        calls: list[tuple[str, str]] | None = None,
        before_return: Callable[[], None] | None = None,
    ):
        self.api = api
        self.calls = [] if calls is None else calls
        self.before_return = before_return

    @property
    def inspected(self) -> list[str]:
        return [container_id for call, container_id in self.calls if call == "inspect"]

    def containers(self, **kwargs: Any) -> Any:
        self.calls.append(("list", ""))
        listing = self.api.containers(**kwargs)
        if self.before_return is not None:
            hook, self.before_return = self.before_return, None
            hook()  # once: the next list call sees the engine as it is
        return listing

    def inspect_container(self, container_id: str) -> Any:
        self.calls.append(("inspect", container_id))
        return self.api.inspect_container(container_id)

    def events(self, **kwargs: Any) -> Any:
        return self.api.events(**kwargs)

    def close(self) -> None:
        self.api.close()


def counting_factory(host: str, calls: list[tuple[str, str]]) -> Callable[[], Any]:
    """A client factory (a new client per call, as the collector needs) sharing ``calls``."""
    return lambda: CountingClient(
        docker.APIClient(base_url=host, version="auto", timeout=10), calls
    )


def following(collector: DockerCollector) -> DockerCollector:
    """Start the collector's event stream and wait until it is connected."""
    collector.start()
    wait_for(lambda: collector.watching, 20, "the Docker event stream")
    return collector


@pytest.fixture
def cleanup(dockerd: DockerDaemon) -> Iterator[list[Any]]:
    """Containers appended here are removed (forcibly) after the test."""
    created: list[Any] = []
    yield created
    for container in created:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


@pytest.fixture(params=["events", "list"])
def collector(dockerd: DockerDaemon, request: pytest.FixtureRequest) -> Iterator[DockerCollector]:
    """The collector as the exporter runs it (following events), and listing on every scrape."""
    collector = DockerCollector.from_config(docker_config(dockerd.host))
    if request.param == "events":
        following(collector)
    yield collector
    collector.close()


@pytest.fixture
def registry(collector: DockerCollector) -> CollectorRegistry:
    return build_registry({"docker": collector})


# --- parsers --------------------------------------------------------------------------------


def test_parse_docker_time_keeps_nanosecond_timestamps_and_drops_the_zero_time() -> None:
    assert parse_docker_time("2026-11-27T18:21:52.851679996Z") == pytest.approx(1795803712.85168)
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("") is None


def test_parse_inspect_reads_health_restarts_and_image() -> None:
    inspected = parse_inspect(
        {
            "Image": "sha256:4ede9c4ed63f",
            "RestartCount": 6,
            "Config": {"Image": "registry.local/shop/web:1.4"},
            "State": {
                "Status": "running",
                "StartedAt": "2026-11-27T18:21:52.851679996Z",
                "Health": {"Status": "unhealthy", "FailingStreak": 3},
            },
        }
    )
    assert inspected.image == "registry.local/shop/web:1.4"
    assert inspected.restart_count == 6
    assert inspected.health == "unhealthy"
    assert parse_inspect({"State": {"StartedAt": "0001-01-01T00:00:00Z"}}).health == "none"
    stopped = {"Status": "exited", "Health": {"Status": "unhealthy", "FailingStreak": 0}}
    assert parse_inspect({"State": stopped}).health == "none"
    paused = {"Status": "paused", "Health": {"Status": "healthy"}}
    assert parse_inspect({"State": paused}).health == "healthy"


def test_container_name_is_the_own_name_not_a_link_alias() -> None:
    entry = {"Id": "abc", "Names": ["/web/db", "/db"]}
    assert container_name(entry) == "db"


# --- the real engine ------------------------------------------------------------------------


@pytest.mark.integration
def test_golden_exposition_of_a_created_compose_container(
    dockerd: DockerDaemon, registry: CollectorRegistry, cleanup: list[Any]
) -> None:
    name = unique("golden")
    container = dockerd.create(
        "sleep 60",
        name=name,
        labels={
            "com.docker.compose.project": "shop",
            "com.docker.compose.service": "web",
            "com.docker.compose.container-number": "1",
        },
    )
    cleanup.append(container)
    text = generate_latest(registry).decode()
    lines = [line for line in text.splitlines() if f'name="{name}"' in line]
    got = "\n".join(lines).replace(container.id, "ID")
    got = re.sub(r"^(container_last_seen\{.*\}) [0-9.e+]+$", r"\1 NOW", got, flags=re.M)
    assert got == GOLDEN.replace("NAME", name)
    assert "# TYPE container_restarts_total counter" in text
    assert "Docker resets it to 0 on a manual start and on a daemon restart" in text


@pytest.mark.integration
def test_restart_loop_counts_restarts_and_shows_restarting(
    dockerd: DockerDaemon, registry: CollectorRegistry, cleanup: list[Any]
) -> None:
    container = dockerd.run(
        ["sh", "-c", "sleep 1; exit 1"], name=unique("crashloop"), restart_policy={"Name": "always"}
    )
    cleanup.append(container)
    labels = labels_of(container)

    def looping() -> bool:
        restarts = value(registry, "container_restarts_total", labels) or 0
        restarting = value(registry, "container_state_status", {**labels, "status": "restarting"})
        return restarts >= 3 and restarting == 1.0

    wait_for(looping, 40, "restarts >= 3 while restarting", interval=0.1)
    start = value(registry, "container_start_time_seconds", labels)
    assert start is not None
    assert time.time() - 60 < start <= time.time()


@pytest.mark.integration
def test_health_states(
    dockerd: DockerDaemon, registry: CollectorRegistry, cleanup: list[Any]
) -> None:
    def run(name: str, command: str | None, interval_s: float) -> Any:
        healthcheck = None
        if command is not None:
            healthcheck = {
                "test": ["CMD", command],
                "interval": int(interval_s * 1e9),
                "timeout": int(1e9),
                "retries": 1,
            }
        container = dockerd.run("sleep 300", name=unique(name), healthcheck=healthcheck)
        cleanup.append(container)
        return container

    failing = run("unhealthy", "false", 0.2)
    passing = run("healthy", "true", 0.2)
    starting = run("starting", "true", 3600)
    without = run("nocheck", None, 0)
    expected = {failing: "unhealthy", passing: "healthy", starting: "starting", without: "none"}
    health_state = {"unhealthy": 0.0, "healthy": 1.0, "starting": 0.0, "none": -1.0}

    def settled() -> bool:
        return all(
            value(registry, "container_state_health_status", {**labels_of(c), "status": s}) == 1
            for c, s in expected.items()
        )

    wait_for(settled, 20, "healthchecks to settle")
    for container, status in expected.items():
        labels = labels_of(container)
        for other in ("none", "starting", "healthy", "unhealthy"):
            assert value(
                registry, "container_state_health_status", {**labels, "status": other}
            ) == (1.0 if other == status else 0.0)
        assert value(registry, "container_health_state", labels) == health_state[status]


@pytest.mark.integration
def test_a_stopped_container_is_not_unhealthy(
    dockerd: DockerDaemon, registry: CollectorRegistry, cleanup: list[Any]
) -> None:
    """Docker leaves the last health status on a stopped container's inspect (``unhealthy``
    once the check cannot run): ``docker ps`` shows none for it, and neither do we, so a plain
    ``docker stop`` is not mailed as a failing health check."""
    healthcheck = {"test": ["CMD", "true"], "interval": int(0.2e9), "timeout": int(1e9)}
    container = dockerd.run("sleep 300", name=unique("stopped"), healthcheck=healthcheck)
    cleanup.append(container)
    labels = labels_of(container)

    def health_is(status: str) -> Callable[[], bool]:
        return lambda: (
            value(registry, "container_state_health_status", {**labels, "status": status}) == 1
        )

    wait_for(health_is("healthy"), 20, "the health check to pass")
    container.stop(timeout=1)
    wait_for(
        lambda: value(registry, "container_state_status", {**labels, "status": "exited"}) == 1,
        20,
        "exited",
    )
    container.reload()
    reported = container.attrs["State"].get("Health", {}).get("Status")
    for status in ("starting", "healthy", "unhealthy"):
        assert (
            value(registry, "container_state_health_status", {**labels, "status": status}) == 0
        ), f"{status}, while Docker's inspect says {reported}"
    assert value(registry, "container_state_health_status", {**labels, "status": "none"}) == 1
    assert value(registry, "container_health_state", labels) == -1.0


@pytest.mark.integration
def test_lifecycle_running_paused_exited_removed(
    dockerd: DockerDaemon, registry: CollectorRegistry, cleanup: list[Any]
) -> None:
    container = dockerd.run("sleep 300", name=unique("lifecycle"))
    cleanup.append(container)
    labels = labels_of(container)

    def state_is(state: str) -> Callable[[], bool]:
        def check() -> bool:
            return all(
                value(registry, "container_state_status", {**labels, "status": s})
                == (1.0 if s == state else 0.0)
                for s in STATES
            )

        return check

    wait_for(state_is("running"), 10, "running")
    container.pause()
    wait_for(state_is("paused"), 10, "paused")
    container.unpause()
    container.stop()
    wait_for(state_is("exited"), 10, "exited")
    container.remove()

    def gone() -> str | None:
        text = generate_latest(registry).decode()
        return text if container.name not in text else None

    text = wait_for(gone, 10, "the removed container to disappear")
    assert container.id not in text
    assert success(registry) == 1.0


@pytest.mark.integration
def test_only_new_or_changed_containers_are_inspected(
    dockerd: DockerDaemon, cleanup: list[Any]
) -> None:
    """Without the event stream every scrape lists, and inspects only what changed."""
    client = CountingClient(docker.APIClient(base_url=dockerd.host, version="auto", timeout=10))
    collector = DockerCollector(lambda: client, watch_events=False)
    collector.start()  # events off: no stream
    registry = build_registry({"docker": collector})
    mine = [dockerd.create("sleep 300", name=unique("cache")) for _ in range(3)]
    cleanup.extend(mine)
    ids = {c.id for c in mine}
    assert success(registry) == 1.0
    assert ids <= set(client.inspected)
    client.calls.clear()
    assert success(registry) == 1.0
    assert client.calls.count(("list", "")) == 1
    assert not ids & set(client.inspected), "unchanged containers were inspected again"
    mine[0].start()
    assert success(registry) == 1.0
    assert ids & set(client.inspected) == {mine[0].id}
    running = {**labels_of(mine[0]), "status": "running"}
    assert value(registry, "container_state_status", running) == 1.0
    assert not collector.watching
    collector.close()


@pytest.mark.integration
def test_quiet_scrapes_make_no_api_call_while_following_events(
    dockerd: DockerDaemon, cleanup: list[Any]
) -> None:
    calls: list[tuple[str, str]] = []
    collector = following(DockerCollector(counting_factory(dockerd.host, calls)))
    registry = build_registry({"docker": collector})
    mine = [dockerd.create("sleep 300", name=unique("quiet")) for _ in range(3)]
    cleanup.extend(mine)
    ids = {c.id for c in mine}
    wait_for(
        lambda: all(value(registry, "container_health_state", labels_of(c)) for c in mine),
        10,
        "the new containers",
    )

    def quiet_scrape() -> bool:
        calls.clear()
        assert success(registry) == 1.0
        return ("list", "") not in calls and not ids & {container_id for _, container_id in calls}

    # the first scrape lists; the create events may still make the next one inspect
    wait_for(quiet_scrape, 10, "a scrape after the create events")
    calls.clear()
    for _ in range(3):
        assert success(registry) == 1.0
    # (the engine is shared with other tests: only calls about these containers count)
    assert ("list", "") not in calls, "a quiet scrape listed every container"
    assert not ids & {container_id for _, container_id in calls}, "a quiet scrape inspected"

    mine[0].start()
    running = {**labels_of(mine[0]), "status": "running"}
    wait_for(lambda: value(registry, "container_state_status", running) == 1.0, 10, "running")
    assert ("list", "") not in calls, "an event made the collector list every container"
    assert ids & {container_id for _, container_id in calls} == {mine[0].id}

    calls.clear()
    mine[1].remove()
    wait_for(
        lambda: value(registry, "container_health_state", labels_of(mine[1])) is None,
        10,
        "the removed container to disappear",
    )
    assert ("list", "") not in calls
    assert ids & {container_id for _, container_id in calls} == {mine[1].id}
    collector.close()


@pytest.mark.integration
def test_a_full_list_runs_every_resync_interval_even_when_quiet(dockerd: DockerDaemon) -> None:
    calls: list[tuple[str, str]] = []
    collector = DockerCollector(counting_factory(dockerd.host, calls), resync_interval=1.5)
    following(collector)
    registry = build_registry({"docker": collector})
    assert success(registry) == 1.0  # the first scrape lists
    calls.clear()
    assert success(registry) == 1.0
    assert ("list", "") not in calls
    time.sleep(1.6)
    assert success(registry) == 1.0
    assert ("list", "") in calls
    collector.close()


def test_config_switches_the_event_stream_off_and_sets_the_resync_interval() -> None:
    config = Config.model_validate(
        {"docker": {"events": False, "resync_interval": "2m", "host": "unix:///x.sock"}}
    )
    collector = DockerCollector.from_config(config)
    assert collector.watch_events is False
    assert collector.resync_interval == 120.0


@pytest.mark.integration
def test_container_removed_between_list_and_inspect_is_skipped(
    dockerd: DockerDaemon, cleanup: list[Any]
) -> None:
    stays = dockerd.create("sleep 300", name=unique("stays"))
    goes = dockerd.create("sleep 300", name=unique("goes"))
    cleanup.extend([stays, goes])
    client = CountingClient(
        docker.APIClient(base_url=dockerd.host, version="auto", timeout=10),
        before_return=lambda: goes.remove(force=True),
    )
    collector = DockerCollector(lambda: client)
    registry = build_registry({"docker": collector})
    assert success(registry) == 1.0
    assert goes.id in client.inspected
    created = {**labels_of(stays), "status": "created"}
    assert value(registry, "container_state_status", created) == 1.0
    assert goes.name not in generate_latest(registry).decode()
    collector.close()


@pytest.mark.integration
def test_prometheus_sees_the_restart_loop(
    dockerd: DockerDaemon,
    cleanup: list[Any],
    start_prometheus: Callable[..., PrometheusServer],
) -> None:
    exporter = Exporter({"docker": DockerCollector.from_config(docker_config(dockerd.host))})
    host, port = exporter.serve("127.0.0.1:0")
    try:
        prometheus = start_prometheus([f"{host}:{port}"])
        name = unique("promloop")
        cleanup.append(
            dockerd.run(
                ["sh", "-c", "sleep 1; exit 1"], name=name, restart_policy={"Name": "always"}
            )
        )
        result = prometheus.wait_for_series(
            f'increase(container_restarts_total{{name="{name}"}}[1m]) > 0', timeout=40
        )
        assert result[0]["metric"]["image"] == "stackwatch-busybox:test"
    finally:
        exporter.close()


# --- failure isolation ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def spare_dockerd() -> Iterator[DockerDaemon]:
    """A second, short-lived dockerd that tests may stop without harming the shared one."""
    with required_dockerd() as daemon:
        yield daemon


@pytest.mark.integration
def test_counts_by_state_are_zero_not_absent(spare_dockerd: DockerDaemon) -> None:
    collector = DockerCollector.from_config(docker_config(spare_dockerd.host))
    registry = build_registry({"docker": collector})

    def counts() -> dict[str, float | None]:
        return {s: value(registry, "stackwatch_docker_containers", {"state": s}) for s in STATES}

    assert counts() == dict.fromkeys(STATES, 0.0)
    container = spare_dockerd.create("sleep 300")
    try:
        assert counts() == {**dict.fromkeys(STATES, 0.0), "created": 1.0}
        container.start()
        assert counts() == {**dict.fromkeys(STATES, 0.0), "running": 1.0}
    finally:
        container.remove(force=True)
    assert counts() == dict.fromkeys(STATES, 0.0)
    collector.close()


@pytest.mark.integration
def test_dockerd_stopped_mid_run(
    spare_dockerd: DockerDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """Scrapes go on without the daemon; the event stream reconnects when it is back."""
    config = docker_config(spare_dockerd.host)
    collectors = build_collectors(config)
    docker_collector = collectors["docker"]
    assert isinstance(docker_collector, DockerCollector)
    exporter = Exporter({"host": HostCollector.from_config(config), **collectors})
    address = "{}:{}".format(*exporter.serve("127.0.0.1:0"))

    def scrape() -> str:
        started = time.perf_counter()
        response = requests.get(f"http://{address}/metrics", timeout=10)
        assert time.perf_counter() - started < within(2), "a scrape waited on the dead daemon"
        assert response.status_code == 200
        return response.text

    try:
        wait_for(lambda: docker_collector.watching, 20, "the Docker event stream")
        assert 'stackwatch_scrape_collector_success{collector="docker"} 1.0' in scrape()
        with caplog.at_level(logging.INFO):
            spare_dockerd.terminate()
            wait_for(lambda: not docker_collector.watching, 10, "the event stream to end")
            for _ in range(3):
                text = scrape()
                assert 'stackwatch_scrape_collector_success{collector="docker"} 0.0' in text
                assert 'stackwatch_scrape_collector_success{collector="host"} 1.0' in text
                assert "node_load1 " in text
                assert "stackwatch_docker_containers" not in text
            spare_dockerd.restart()
            assert 'stackwatch_scrape_collector_success{collector="docker"} 1.0' in scrape()
            wait_for(lambda: docker_collector.watching, 30, "the event stream to reconnect")
            container = spare_dockerd.create("sleep 300", name=unique("back"))
            try:
                wait_for(lambda: container.name in scrape(), 10, "a container made after it")
            finally:
                container.remove(force=True)
        messages = [r.getMessage() for r in caplog.records]
        assert len([m for m in messages if m.startswith("collector docker failed")]) == 1
        assert "collector docker recovered" in messages
        assert len([m for m in messages if m.startswith("Docker event stream ended")]) == 1
        assert (
            messages.count("following Docker events; scrapes inspect only changed containers") == 1
        )
    finally:
        exporter.close()


def test_an_engine_refusing_the_event_stream_is_listed_on_every_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A socket proxy that allows listing but not ``/events``: scrapes still work, by listing,
    and the refusal is logged once, not on every retry. A local HTTP server plays the proxy
    (answering the Engine API's JSON), since the real engine always allows events."""

    event_requests: list[str] = []

    def handle(request: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        path = urlsplit(request.path).path
        if path == "/version":
            return 200, json.dumps({"ApiVersion": "1.41", "Version": "20.10.24"}).encode()
        if path.endswith("/containers/json"):
            return 200, b"[]"
        event_requests.append(path)
        return 403, json.dumps({"message": "events are not allowed by the proxy"}).encode()

    with LocalServer(handle) as proxy, caplog.at_level(logging.INFO):
        host = proxy.url.replace("http://", "tcp://")
        collector = DockerCollector.from_config(docker_config(host))
        collector.start()
        registry = build_registry({"docker": collector})
        # three attempts: at once, after 1 s and after 2 more
        wait_for(lambda: len(event_requests) >= 3, 10, "three tries of /events")
        assert success(registry) == 1.0
        assert value(registry, "stackwatch_docker_containers", {"state": "running"}) == 0.0
        assert not collector.watching
        collector.close()
    warnings = [r.getMessage() for r in caplog.records if "cannot follow Docker events" in r.msg]
    assert len(warnings) == 1
    assert "403" in warnings[0]
    assert "events are not allowed by the proxy" in warnings[0]


def test_missing_socket_fails_fast_without_connecting_at_construction(tmp_path: Path) -> None:
    collector = DockerCollector.from_config(docker_config(f"unix://{tmp_path}/absent.sock"))
    registry = build_registry({"docker": collector})
    started = time.perf_counter()
    assert success(registry) == 0.0
    assert time.perf_counter() - started < within(1)
    collector.close()


def _scrape_as_nobody(host: str, results: Any) -> None:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    collector = DockerCollector.from_config(docker_config(host))
    try:
        list(collector.collect())
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
    else:
        results.put("no error")
    results.put(success(build_registry({"docker": collector})))


@pytest.mark.integration
def test_permission_denied_on_the_socket_is_a_collector_failure(dockerd: DockerDaemon) -> None:
    """A user outside the socket's group: the collector fails, naming the cause."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to an unprivileged user")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_scrape_as_nobody, args=(dockerd.host, results))
    child.start()
    error = results.get(timeout=30)
    scrape_success = results.get(timeout=30)
    child.join(timeout=30)
    assert "Permission denied" in error
    assert scrape_success == 0.0


def test_hung_daemon_fails_within_the_timeout() -> None:
    """A socket that accepts connections and never answers holds a scrape only docker.timeout."""
    path = f"/tmp/sw-hung-{uuid.uuid4().hex[:8]}.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(16)
        try:
            config = Config.model_validate({"docker": {"host": f"unix://{path}", "timeout": "1s"}})
            collector = DockerCollector.from_config(config)
            registry = build_registry({"docker": collector})
            for _ in range(2):
                started = time.perf_counter()
                assert success(registry) == 0.0
                assert time.perf_counter() - started < within(2.5)
            collector.close()
        finally:
            Path(path).unlink()
