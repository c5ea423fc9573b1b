"""HTTP over ``requests`` with a wall-clock deadline for the whole exchange.

``requests``' timeout bounds each socket read, so a server that sends one byte at a time keeps a
request going forever. Here a watchdog timer shuts the connection's socket down at the
deadline, whatever the request is doing then (connecting, sending, reading headers or body), so
the blocked read returns at once and the request fails.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class DeadlineExceededError(Exception):
    """The exchange did not end before its deadline."""


class Watchdog:
    """Shuts down the sockets of one exchange when its deadline passes.

    Sockets are registered when a connection has one (after connecting, or when a pooled one is
    reused), not read from the connection at the deadline: ``http.client`` hands the socket to
    the response and forgets it when the server closes after the answer. Once the exchange has
    ended, a timer that fires late touches nothing: a pooled socket may serve the next one.
    """

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def attach(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` too; past the deadline already, shut it down and raise."""
        with self._lock:
            if sock is not None and sock not in self._sockets:
                self._sockets.append(sock)
            fired = self.fired
        if fired:
            if sock is not None:
                _shutdown(sock)
            raise DeadlineExceededError

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def __enter__(self) -> Watchdog:
        _current.watchdog = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
        _current.watchdog = None


def _shutdown(sock: socket.socket) -> None:
    # the plain socket's shutdown, also for TLS: it leaves the SSL object alone while another
    # thread may be blocked reading through it; OSError: already closed
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_current = threading.local()
"""The watchdog of the exchange running on this thread, which its connections register with."""


def _attach(sock: socket.socket | None) -> None:
    watchdog: Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.attach(sock)


class DeadlineConnection(HTTPConnection):
    """An HTTP connection that registers its socket with the thread's watchdog."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _attach(sock)  # before any TLS handshake, which a server can trickle too
        return sock

    def connect(self) -> None:
        _attach(None)  # past the deadline already: do not connect
        super().connect()
        _attach(self.sock)  # the TLS socket, when it wraps the one of _new_conn

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self.sock)  # a reused connection has its socket; a new one connects here
        super().request(*args, **kwargs)


class DeadlineTLSConnection(DeadlineConnection, HTTPSConnection):
    """The HTTPS form of ``DeadlineConnection``."""


class DeadlinePool(HTTPConnectionPool):
    ConnectionCls = DeadlineConnection


class DeadlineTLSPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineTLSConnection


class DeadlineAdapter(HTTPAdapter):
    """A pooled adapter whose connections obey the thread's watchdog (no retries here).

    Through a proxy (``HTTP_PROXY``/``HTTPS_PROXY``, which ``requests`` honours) too: the
    proxy managers get the same pools, so the connection to the proxy, and the tunnel through
    it, is watched as a direct one is. A SOCKS proxy is refused: its connections are made by
    PySocks, out of the watchdog's sight. ``pools`` replaces the pool class of a scheme.
    """

    def __init__(
        self,
        *args: Any,
        pools: Mapping[str, type[HTTPConnectionPool]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.pools: dict[str, type[HTTPConnectionPool]] = {
            "http": DeadlinePool,
            "https": DeadlineTLSPool,
            **(pools or {}),
        }
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.pools)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if proxy.lower().startswith("socks"):
            raise requests.exceptions.InvalidProxyURL(
                f"SOCKS proxy {redact_proxy(proxy)} not supported: its connections cannot be "
                "held to a deadline; use an HTTP proxy or set NO_PROXY for this host"
            )
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(self.pools)
        return manager


def redact_proxy(proxy: str) -> str:
    """A proxy URL without its credentials, for messages."""
    scheme, sep, rest = proxy.rpartition("://")
    host = rest.rpartition("@")[2]
    return f"{scheme}{sep}{host}"


def post_within(
    session: requests.Session, url: str, data: dict[str, str], deadline: float
) -> requests.Response:
    """POST ``data`` and read the whole answer before ``deadline`` (``time.monotonic()``).

    The session must have a ``DeadlineAdapter`` mounted for the URL's scheme. Raises
    ``DeadlineExceededError`` when the deadline passes first, else what ``requests`` raises.
    """
    return request_within(session, "POST", url, data, deadline)


def request_within(
    session: requests.Session, method: str, url: str, data: dict[str, str], deadline: float
) -> requests.Response:
    """``post_within`` for any method: ``data`` is the form body, or for GET the query string."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceededError
    form, query = (None, data) if method == "GET" else (data, None)
    with Watchdog(deadline) as watchdog:
        try:
            response = session.request(
                method, url, data=form, params=query, timeout=remaining, stream=True
            )
            try:
                response.content  # noqa: B018 - reads the body, under the watchdog
            finally:
                response.close()
        except (requests.RequestException, DeadlineExceededError) as exc:
            if watchdog.fired or time.monotonic() >= deadline:
                raise DeadlineExceededError from exc
            raise
    if watchdog.fired:
        raise DeadlineExceededError
    return response
