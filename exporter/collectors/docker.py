"""Docker containers with cAdvisor's names and labels, from one list call per scrape.

Each scrape makes one raw ``GET /containers/json?all=1``; only containers that are new, or whose
``State`` or ``Status`` text changed since the previous scrape, are inspected (bounded
concurrency), because inspecting every container on every scrape costs a round trip each.
``Status`` carries the uptime ("Up 5 minutes"), the exit code and the health, so restarts and
health changes re-inspect. A container removed between the list and its inspect is skipped.
Every series carries ``name``, ``image`` and ``id``, and the compose project and service labels
when the container has them.

# HELP container_last_seen Last time the container was seen by the exporter, in unixtime.
# TYPE container_last_seen gauge
# HELP container_start_time_seconds Time the container last started, in unixtime (absent if ...).
# TYPE container_start_time_seconds gauge
# HELP container_health_state Container health: 1 healthy, 0 starting or unhealthy, -1 no ...
# TYPE container_health_state gauge
# HELP container_state_status Container state, one-hot over created, running, paused, ...
# TYPE container_state_status gauge
# HELP container_state_health_status Container health, one-hot over none, starting, ...
# TYPE container_state_health_status gauge
# HELP container_restarts_total Times Docker restarted the container (its RestartCount). ...
# TYPE container_restarts_total counter
# HELP stackwatch_docker_containers Number of containers in each state.
# TYPE stackwatch_docker_containers gauge
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker
import docker.errors
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from exporter.collectors.base import Collector
from stackwatch.config import Config

STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
HEALTH_STATES = ("none", "starting", "healthy", "unhealthy")
HEALTH_VALUES = {"healthy": 1.0, "starting": 0.0, "unhealthy": 0.0, "none": -1.0}
COMPOSE_LABELS = {
    "com.docker.compose.project": "container_label_com_docker_compose_project",
    "com.docker.compose.service": "container_label_com_docker_compose_service",
}

MAX_INSPECT_WORKERS = 8


@dataclass(frozen=True)
class Inspected:
    """What only an inspect tells; cached per container while its State and Status hold."""

    image: str
    restart_count: int
    started_at: float | None
    health: str


@dataclass(frozen=True)
class Container:
    """One container as this scrape sees it."""

    id: str
    name: str
    state: str
    labels: Mapping[str, str]
    inspected: Inspected

    def series_labels(self) -> dict[str, str]:
        """cAdvisor's labels; compose labels only when the container has them."""
        labels = {"name": self.name, "image": self.inspected.image, "id": self.id}
        for key, label in COMPOSE_LABELS.items():
            if self.labels.get(key):
                labels[label] = self.labels[key]
        return labels


def parse_docker_time(text: str | None) -> float | None:
    """Docker's RFC 3339 timestamp (nanoseconds, ``Z``) in unixtime; None for the zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(text).timestamp()


def parse_inspect(data: Mapping[str, Any]) -> Inspected:
    """The cached part of ``GET /containers/{id}/json``."""
    state = data.get("State") or {}
    health = (state.get("Health") or {}).get("Status") or "none"
    return Inspected(
        image=str((data.get("Config") or {}).get("Image") or data.get("Image") or ""),
        restart_count=int(data.get("RestartCount") or 0),
        started_at=parse_docker_time(state.get("StartedAt")),
        health=health if health in HEALTH_VALUES else "none",
    )


def container_name(entry: Mapping[str, Any]) -> str:
    """The primary name from a list entry (``/web`` -> ``web``)."""
    names = entry.get("Names") or []
    # Legacy links add names like /other/alias; the container's own name has no inner slash.
    own = [n for n in names if n.count("/") == 1] or names or [entry["Id"][:12]]
    return str(own[0]).lstrip("/")


def cache_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    return str(entry.get("State", "")), str(entry.get("Status", ""))


def build_client(host: str, timeout: float) -> docker.APIClient:
    """A Docker API client; negotiating the API version is its first request."""
    return docker.APIClient(base_url=host, version="auto", timeout=timeout)


class DockerCollector(Collector):
    """Container state, health and restarts from the Docker Engine API."""

    name = "docker"

    def __init__(
        self,
        client_factory: Callable[[], docker.APIClient],
        max_workers: int = MAX_INSPECT_WORKERS,
    ) -> None:
        # The factory runs on the first scrape: building a client talks to the daemon.
        self._client_factory = client_factory
        self._client: docker.APIClient | None = None
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[str, str], Inspected]] = {}
        self._series: dict[str, tuple[Container, dict[str, tuple[Sample, ...]]]] = {}

    @classmethod
    def from_config(cls, config: Config) -> DockerCollector:
        return cls(functools.partial(build_client, config.docker.host, config.docker.timeout))

    @property
    def client(self) -> docker.APIClient:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            if self._client is not None:
                self._client.close()
                self._client = None

    def _inspect(self, container_id: str) -> Inspected | None:
        try:
            data = self.client.inspect_container(container_id)
        except docker.errors.NotFound:
            return None  # removed since the list call
        return parse_inspect(data)

    def _inspect_all(self, ids: Sequence[str]) -> list[Inspected | None]:
        if len(ids) <= 1:
            return [self._inspect(i) for i in ids]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="inspect")
            pool = self._pool
        return list(pool.map(self._inspect, ids))

    def containers(self) -> list[Container]:
        """List every container, inspecting only those that are new or changed."""
        listing: list[dict[str, Any]] = self.client.containers(all=True)
        by_id = {entry["Id"]: entry for entry in listing}
        with self._lock:
            cache = {k: v for k, v in self._cache.items() if k in by_id}
        stale = [i for i, e in by_id.items() if i not in cache or cache[i][0] != cache_key(e)]
        for container_id, inspected in zip(stale, self._inspect_all(stale), strict=True):
            if inspected is None:
                cache.pop(container_id, None)
            else:
                cache[container_id] = (cache_key(by_id[container_id]), inspected)
        with self._lock:
            self._cache = cache
        return [
            Container(
                id=container_id,
                name=container_name(entry),
                state=str(entry.get("State", "")),
                labels=entry.get("Labels") or {},
                inspected=cache[container_id][1],
            )
            for container_id, entry in by_id.items()
            if container_id in cache
        ]

    def _samples(self, container: Container) -> dict[str, tuple[Sample, ...]]:
        """The container's samples but ``container_last_seen``, reused while it is unchanged."""
        cached = self._series.get(container.id)
        if cached is not None and cached[0] == container:
            return cached[1]
        samples = container_samples(container)
        self._series[container.id] = (container, samples)
        return samples

    def collect(self) -> Iterator[Metric]:
        containers = self.containers()
        now = time.time()
        families = {name: Metric(name, doc, kind) for name, doc, kind in FAMILIES}
        last_seen = families["container_last_seen"].samples
        counts = dict.fromkeys(STATES, 0)
        with self._lock:
            for container in containers:
                samples = self._samples(container)
                for name, family_samples in samples.items():
                    families[name].samples.extend(family_samples)
                last_seen.append(Sample("container_last_seen", samples[LABELS_KEY][0].labels, now))
                if container.state in counts:
                    counts[container.state] += 1
            listed = {c.id for c in containers}
            self._series = {k: v for k, v in self._series.items() if k in listed}
        count = GaugeMetricFamily(
            "stackwatch_docker_containers",
            "Number of containers in each state.",
            labels=["state"],
        )
        for state, number in counts.items():
            count.add_metric([state], float(number))
        yield from families.values()
        yield count


RESTARTS_HELP = (
    "Times Docker restarted the container (its RestartCount). Docker resets it to 0 on a manual "
    "start and on a daemon restart, and a recreated container starts at 0: a counter reset, "
    "which rate() and increase() handle."
)
FAMILIES = (
    (
        "container_last_seen",
        "Last time the container was seen by the exporter, in unixtime.",
        "gauge",
    ),
    (
        "container_start_time_seconds",
        "Time the container last started, in unixtime (absent if it never started).",
        "gauge",
    ),
    (
        "container_health_state",
        "Container health: 1 healthy, 0 starting or unhealthy, -1 no healthcheck.",
        "gauge",
    ),
    ("container_state_status", f"Container state, one-hot over {', '.join(STATES)}.", "gauge"),
    (
        "container_state_health_status",
        f"Container health, one-hot over {', '.join(HEALTH_STATES)}.",
        "gauge",
    ),
    ("container_restarts", RESTARTS_HELP, "counter"),
)
# container_health_state is always present: its first sample carries the container's labels
LABELS_KEY = "container_health_state"


def container_samples(container: Container) -> dict[str, tuple[Sample, ...]]:
    """Every sample of one container except ``container_last_seen`` (its value is the scrape)."""
    labels = container.series_labels()
    info = container.inspected
    samples: dict[str, tuple[Sample, ...]] = {
        "container_health_state": (
            Sample("container_health_state", labels, HEALTH_VALUES[info.health]),
        ),
        "container_state_status": tuple(
            Sample(
                "container_state_status",
                {**labels, "status": state},
                1.0 if container.state == state else 0.0,
            )
            for state in STATES
        ),
        "container_state_health_status": tuple(
            Sample(
                "container_state_health_status",
                {**labels, "status": health},
                1.0 if info.health == health else 0.0,
            )
            for health in HEALTH_STATES
        ),
        "container_restarts": (
            Sample("container_restarts_total", labels, float(info.restart_count)),
        ),
    }
    if info.started_at is not None:
        samples["container_start_time_seconds"] = (
            Sample("container_start_time_seconds", labels, info.started_at),
        )
    return samples
