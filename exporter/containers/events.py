"""Docker's container event stream, followed on a thread to learn which containers changed."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

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


def raise_for_stream_status(stream: Any) -> None:
    """Raise the API error an event stream was answered with: the SDK streams any answer."""
    # Private, for want of a public way: ``events()`` returns a ``CancellableStream`` whose
    # public side is iteration and ``close()`` (the cancel ``EventFollower.close`` uses). An
    # error body would surface on the first ``next()``, but on a healthy stream that blocks
    # until the first event, so a refusal could not be told from a quiet connection.
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


class EventFollower:
    """Follows container events, reconnecting with backoff, and records the ids they name.

    ``client_factory`` must return a new client on each call: the stream holds its own.
    Whoever reads the containers calls ``take`` for what changed since its last call, and
    whether it must list every container instead (the stream is down, has just connected,
    or more changed than is worth inspecting one by one).
    """

    def __init__(self, client_factory: Callable[[], docker.APIClient]) -> None:
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        self._watching = False
        self._need_list = True
        self._stream: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def watching(self) -> bool:
        """Whether the event stream is connected."""
        with self._lock:
            return self._watching

    def take(self) -> tuple[bool, set[str]]:
        """Whether a full list is due, and the containers events named since the last call."""
        with self._lock:
            full = not self._watching or self._need_list
            self._need_list = False
            dirty, self._dirty = self._dirty, set()
        return full, dirty

    def request_list(self) -> None:
        """Make the next ``take`` ask for a full list (the reader's view may be part-updated)."""
        with self._lock:
            self._need_list = True

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="docker-events", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):  # already closed, or an ssh:// stream
                stream.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
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
