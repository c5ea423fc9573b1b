"""The current set of containers: one list call when due, otherwise only what events named.

A full list (one raw ``GET /containers/json?all=1``) runs on the first read, whenever the event
stream (re)connects and every ``resync_interval`` as a safety net; it inspects only containers
that are new, or whose ``State`` or ``Status`` text changed since they were last inspected
(bounded concurrency). ``Status`` carries the uptime ("Up 5 minutes"), the exit code and the
health, so restarts and health changes re-inspect. Between lists, a read inspects only the
containers events named: a quiet read makes no API call at all. While the stream is down (or
not followed), every read lists. A container removed between the list (or its event) and its
inspect is skipped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors

from exporter.containers.events import EventFollower
from exporter.containers.model import (
    Container,
    cache_key,
    container_from_inspect,
    container_from_list,
    parse_inspect,
)

MAX_INSPECT_WORKERS = 8


def build_client(host: str, timeout: float) -> docker.APIClient:
    """A Docker API client; negotiating the API version is its first request."""
    return docker.APIClient(base_url=host, version="auto", timeout=timeout)


class ContainerView:
    """Every container, kept current from lists, inspects and the event stream.

    ``client_factory`` must return a new client on each call: the event stream holds one of its
    own. Reads are serialised; the event thread only records which containers changed.
    """

    def __init__(
        self,
        client_factory: Callable[[], docker.APIClient],
        max_workers: int = MAX_INSPECT_WORKERS,
        *,
        watch_events: bool = True,
        resync_interval: float = 300.0,
    ) -> None:
        # The factory runs on the first read: building a client talks to the daemon.
        self._client_factory = client_factory
        self._client: docker.APIClient | None = None
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self.watch_events = watch_events
        self.resync_interval = resync_interval
        self.events = EventFollower(client_factory)
        self._lock = threading.Lock()  # the client and the pool
        self._read_lock = threading.Lock()  # one read at a time
        # the current view, and the list State/Status each container was last inspected at
        self._containers: dict[str, Container] = {}
        self._keys: dict[str, tuple[str, str]] = {}
        self._listed_at = -math.inf

    @property
    def client(self) -> docker.APIClient:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    @property
    def watching(self) -> bool:
        """Whether the event stream is connected (quiet reads then make no API call)."""
        return self.events.watching

    def start(self) -> None:
        if self.watch_events:
            self.events.start()

    def close(self) -> None:
        self.events.close()
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            if self._client is not None:
                self._client.close()
                self._client = None

    def containers(self) -> list[Container]:
        """Every container: from the event-driven view, or from a full list when one is due."""
        with self._read_lock:
            need_list, dirty = self.events.take()
            full = need_list or time.monotonic() - self._listed_at >= self.resync_interval
            try:
                return self._list_all() if full else self._update(sorted(dirty))
            except BaseException:
                self.events.request_list()  # the view may be part-updated: list next time
                raise

    def current(self) -> list[Container]:
        """The containers as the last read left them, without an API call."""
        with self._read_lock:
            return list(self._containers.values())

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
            containers[container_id] = container_from_list(entry, inspected)
            keys[container_id] = cache_key(entry)
        self._containers, self._keys, self._listed_at = containers, keys, started
        return list(containers.values())
