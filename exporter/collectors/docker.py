"""Docker containers with cAdvisor's names and labels, kept current by Docker's event stream.

The collector renders the container view of ``exporter/containers/``: once started, it follows
``GET /events`` in a background thread, and a scrape inspects only the containers those events
named since the previous scrape (a quiet scrape makes no API call at all); a full list runs
when the stream (re)connects and every ``resync_interval``. Every series carries ``name``,
``image`` and ``id``, and the compose project and service labels when the container has them.

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
from collections.abc import Callable, Iterator

import docker
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from exporter.collectors.base import Collector
from exporter.containers.model import HEALTH_STATES, HEALTH_VALUES, Container
from exporter.containers.view import MAX_INSPECT_WORKERS, ContainerView, build_client
from stackwatch.config import Config

STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
COMPOSE_LABELS = {
    "com.docker.compose.project": "container_label_com_docker_compose_project",
    "com.docker.compose.service": "container_label_com_docker_compose_service",
}


def series_labels(container: Container) -> dict[str, str]:
    """cAdvisor's labels; compose labels only when the container has them."""
    labels = {"name": container.name, "image": container.inspected.image, "id": container.id}
    for key, label in COMPOSE_LABELS.items():
        if container.labels.get(key):
            labels[label] = container.labels[key]
    return labels


class DockerCollector(Collector):
    """Container state, health and restarts from the Docker Engine API.

    ``client_factory`` must return a new client on each call: the event stream holds one of its
    own. Each container's samples are reused while it is unchanged.
    """

    name = "docker"

    def __init__(
        self,
        client_factory: Callable[[], docker.APIClient],
        max_workers: int = MAX_INSPECT_WORKERS,
        *,
        watch_events: bool = True,
        resync_interval: float = 300.0,
    ) -> None:
        self.view = ContainerView(
            client_factory,
            max_workers,
            watch_events=watch_events,
            resync_interval=resync_interval,
        )
        self._lock = threading.Lock()  # the samples cache: one scrape at a time
        self._series: dict[str, tuple[Container, dict[str, tuple[Sample, ...]]]] = {}

    @classmethod
    def from_config(cls, config: Config) -> DockerCollector:
        docker_config = config.docker
        return cls(
            functools.partial(build_client, docker_config.host, docker_config.timeout),
            watch_events=docker_config.events,
            resync_interval=docker_config.resync_interval,
        )

    @property
    def watch_events(self) -> bool:
        return self.view.watch_events

    @property
    def resync_interval(self) -> float:
        return self.view.resync_interval

    @property
    def watching(self) -> bool:
        """Whether the event stream is connected (quiet scrapes then make no API call)."""
        return self.view.watching

    def start(self) -> None:
        self.view.start()

    def close(self) -> None:
        self.view.close()

    def _samples(self, container: Container) -> dict[str, tuple[Sample, ...]]:
        """The container's samples but ``container_last_seen``, reused while it is unchanged."""
        cached = self._series.get(container.id)
        if cached is not None and cached[0] == container:
            return cached[1]
        samples = container_samples(container)
        self._series[container.id] = (container, samples)
        return samples

    def collect(self) -> Iterator[Metric]:
        containers = self.view.containers()
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
    labels = series_labels(container)
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
