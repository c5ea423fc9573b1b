"""Docker containers with cAdvisor's names and labels, kept current by Docker's event stream.

Once started, the collector follows ``GET /events`` (container events that change a metric:
create, start, restart, die, pause, unpause, destroy, rename, health_status) in a background
thread, and a scrape inspects only the containers those events named since the previous
scrape: a quiet scrape makes no API call at all. A full list (one raw
``GET /containers/json?all=1``) runs on the first scrape, whenever the stream (re)connects and
every ``resync_interval`` as a safety net; it inspects only containers that are new, or whose
``State`` or ``Status`` text changed since they were last inspected (bounded concurrency).
``Status`` carries the uptime ("Up 5 minutes"), the exit code and the health, so restarts and
health changes re-inspect. While the stream is down (or before ``start``), every scrape lists.
A container removed between the list (or its event) and its inspect is skipped. Every series
carries ``name``, ``image`` and ``id``, and the compose project and service labels when the
container has them.

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

import contextlib
import functools
import logging
import math
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
# The container events that change a metric; exec_* (every healthcheck run), attach, resize
# and the like do not.
EVENT_ACTIONS = (
    "create",
    "start",
    "restart",
    "die",
    "pause",
    "unpause",
    "destroy",
    "rename",
    "health_status",
)

# Containers changed since the last scrape beyond which the next scrape lists instead.
MAX_DIRTY = 10_000
RECONNECT_MAX_DELAY = 10.0  # seconds; scrapes list containers meanwhile

log = logging.getLogger(__name__)


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


def container_from_inspect(data: Mapping[str, Any]) -> Container:
    """A container from ``GET /containers/{id}/json`` alone (what an event's inspect gives)."""
    container_id = str(data["Id"])
    return Container(
        id=container_id,
        name=str(data.get("Name") or container_id[:12]).lstrip("/"),
        state=str((data.get("State") or {}).get("Status", "")),
        labels=(data.get("Config") or {}).get("Labels") or {},
        inspected=parse_inspect(data),
    )


def cache_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    return str(entry.get("State", "")), str(entry.get("Status", ""))


def build_client(host: str, timeout: float) -> docker.APIClient:
    """A Docker API client; negotiating the API version is its first request."""
    return docker.APIClient(base_url=host, version="auto", timeout=timeout)


def raise_for_stream_status(stream: Any) -> None:
    """Raise the API error an event stream was answered with: the SDK streams any answer."""
    response = stream._response
    if response.status_code < 400:
        return
    try:
        explanation = str(response.json().get("message") or response.text)
    except (ValueError, AttributeError):  # not JSON, or not an object
        explanation = response.text
    finally:
        response.close()
    raise docker.errors.APIError("events", response=response, explanation=explanation)


class DockerCollector(Collector):
    """Container state, health and restarts from the Docker Engine API.

    ``client_factory`` must return a new client on each call: the event stream holds one of its
    own. Scrapes are serialised; the event thread only records which containers changed.
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
        # The factory runs on the first scrape: building a client talks to the daemon.
        self._client_factory = client_factory
        self._client: docker.APIClient | None = None
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self.watch_events = watch_events
        self.resync_interval = resync_interval
        self._lock = threading.Lock()  # the client, the pool and the event thread's state
        self._collect_lock = threading.Lock()  # one scrape at a time
        # the current view, and the list State/Status each container was last inspected at
        self._containers: dict[str, Container] = {}
        self._keys: dict[str, tuple[str, str]] = {}
        self._listed_at = -math.inf
        self._series: dict[str, tuple[Container, dict[str, tuple[Sample, ...]]]] = {}
        # written by the event thread
        self._dirty: set[str] = set()
        self._watching = False
        self._need_list = True
        self._stream: Any = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: Config) -> DockerCollector:
        docker_config = config.docker
        return cls(
            functools.partial(build_client, docker_config.host, docker_config.timeout),
            watch_events=docker_config.events,
            resync_interval=docker_config.resync_interval,
        )

    @property
    def client(self) -> docker.APIClient:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    @property
    def watching(self) -> bool:
        """Whether the event stream is connected (quiet scrapes then make no API call)."""
        with self._lock:
            return self._watching

    def start(self) -> None:
        if self.watch_events and self._watcher is None:
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, name="docker-events", daemon=True)
            self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):  # already closed, or an ssh:// stream
                stream.close()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- the event stream ---------------------------------------------------------------------

    def _watch(self) -> None:
        """Follow the event stream, reconnecting with backoff until ``close``."""
        failures = 0
        last_error: str | None = None
        while not self._stop.is_set():
            connected_at = time.monotonic()
            try:
                self._follow()
            except Exception as exc:  # noqa: BLE001 - the daemon is down or refuses: retry
                # once per kind of failure (messages carry object addresses that change), and
                # not when the stream just ended: the daemon going away was logged then
                error = type(exc).__name__
                if last_error not in (error, "ended") and not self._stop.is_set():
                    log.warning(
                        "cannot follow Docker events (%s: %s); listing containers on every "
                        "scrape and retrying",
                        error,
                        exc,
                    )
                last_error = error
            else:
                last_error = "ended"
            if time.monotonic() - connected_at > 60:
                failures = 0
            self._stop.wait(min(RECONNECT_MAX_DELAY, 2.0**failures))
            failures += 1

    def _follow(self) -> None:
        client = self._client_factory()
        try:
            # dockerd answers before it subscribes the stream: replaying recent events closes
            # that gap (a minute, to allow for a remote daemon's clock skew). Replayed events
            # arrive before the full list that follows every connect, which makes them moot.
            stream = client.events(
                since=f"{time.time() - 60:.9f}",
                filters={"type": ["container"], "event": list(EVENT_ACTIONS)},
                decode=True,
            )
            raise_for_stream_status(stream)
            with self._lock:
                if self._stop.is_set():
                    stream.close()
                    return
                self._stream = stream
                self._watching = True
                self._need_list = True  # whatever happened while not watching
            log.info("following Docker events; scrapes inspect only changed containers")
            for event in stream:
                container_id = event.get("id") or (event.get("Actor") or {}).get("ID")
                if container_id:
                    with self._lock:
                        self._dirty.add(str(container_id))
                        if len(self._dirty) > MAX_DIRTY:  # no scrapes for a long while
                            self._dirty.clear()
                            self._need_list = True
        finally:
            with self._lock:
                was_watching = self._watching
                self._watching = False
                self._need_list = True
                self._stream = None
            client.close()
            if was_watching and not self._stop.is_set():
                log.warning(
                    "Docker event stream ended; listing containers on every scrape until it is back"
                )

    # --- reading containers -------------------------------------------------------------------

    def _inspect(self, container_id: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = self.client.inspect_container(container_id)
        except docker.errors.NotFound:
            return None  # removed since the list call or the event
        return data

    def _inspect_all(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        if len(ids) <= 1:
            return [self._inspect(i) for i in ids]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="inspect")
            pool = self._pool
        return list(pool.map(self._inspect, ids))

    def containers(self) -> list[Container]:
        """Every container: from the event-driven view, or from a full list when one is due."""
        with self._collect_lock:
            with self._lock:
                full = (
                    not self._watching
                    or self._need_list
                    or time.monotonic() - self._listed_at >= self.resync_interval
                )
                if full:
                    self._need_list = False
                dirty, self._dirty = self._dirty, set()
            try:
                return self._list_all() if full else self._update(sorted(dirty))
            except BaseException:
                with self._lock:
                    self._need_list = True  # the view may be part-updated: list next time
                raise

    def _update(self, ids: Sequence[str]) -> list[Container]:
        """Re-inspect the containers events named; a vanished one leaves the view."""
        for container_id, data in zip(ids, self._inspect_all(ids), strict=True):
            self._keys.pop(container_id, None)
            if data is None:
                self._containers.pop(container_id, None)
            else:
                self._containers[container_id] = container_from_inspect(data)
        return list(self._containers.values())

    def _list_all(self) -> list[Container]:
        """One list call; inspect only containers that are new or whose State/Status changed."""
        started = time.monotonic()
        listing: list[dict[str, Any]] = self.client.containers(all=True)
        by_id = {entry["Id"]: entry for entry in listing}
        stale = [
            container_id
            for container_id, entry in by_id.items()
            if container_id not in self._containers
            or self._keys.get(container_id) != cache_key(entry)
        ]
        fresh = dict(zip(stale, self._inspect_all(stale), strict=True))
        containers: dict[str, Container] = {}
        keys: dict[str, tuple[str, str]] = {}
        for container_id, entry in by_id.items():
            if container_id in fresh:
                data = fresh[container_id]
                if data is None:
                    continue
                inspected = parse_inspect(data)
            else:
                inspected = self._containers[container_id].inspected
            containers[container_id] = Container(
                id=container_id,
                name=container_name(entry),
                state=str(entry.get("State", "")),
                labels=entry.get("Labels") or {},
                inspected=inspected,
            )
            keys[container_id] = cache_key(entry)
        self._containers, self._keys, self._listed_at = containers, keys, started
        return list(containers.values())

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
        with self._collect_lock:
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
