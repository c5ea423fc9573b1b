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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class DeadlineExceededError(Exception):
    """The exchange did not end before its deadline."""


class _Watchdog:
    """Shuts down the socket in use when the deadline passes.

    The socket is taken when the connection has one (after connecting, or when a pooled one is
    reused), not read from the connection at the deadline: ``http.client`` hands the socket to
    the response and forgets it when the server closes after the answer.
    """

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            if sock is not None:
                self._sock = sock
            fired = self.fired
        if fired:
            self._shutdown()
            raise DeadlineExceededError

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
        self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is not None:
            # the plain socket's shutdown, also for TLS: it leaves the SSL object alone while
            # another thread may be blocked reading through it; OSError: already closed
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


_current = threading.local()


def _attach(sock: socket.socket | None) -> None:
    watchdog: _Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.attach(sock)


class _Connection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _attach(sock)  # before any TLS handshake
        return sock

    def connect(self) -> None:
        _attach(None)  # past the deadline already: do not connect
        super().connect()
        _attach(self.sock)  # the TLS socket, when it wraps the one of _new_conn

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self.sock)  # a reused connection has its socket; a new one connects here
        super().request(*args, **kwargs)


class _TLSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _attach(sock)  # before any TLS handshake
        return sock

    def connect(self) -> None:
        _attach(None)
        super().connect()
        _attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self.sock)
        super().request(*args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class DeadlineAdapter(HTTPAdapter):
    """A pooled adapter whose connections obey ``post_within``'s watchdog (no retries here)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}


@contextmanager
def _watched(deadline: float) -> Iterator[_Watchdog]:
    with _Watchdog(deadline) as watchdog:
        _current.watchdog = watchdog
        try:
            yield watchdog
        finally:
            _current.watchdog = None


def post_within(
    session: requests.Session, url: str, data: dict[str, str], deadline: float
) -> requests.Response:
    """POST ``data`` and read the whole answer before ``deadline`` (``time.monotonic()``).

    The session must have a ``DeadlineAdapter`` mounted for the URL's scheme. Raises
    ``DeadlineExceededError`` when the deadline passes first, else what ``requests`` raises.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceededError
    with _watched(deadline) as watchdog:
        try:
            response = session.post(url, data=data, timeout=remaining, stream=True)
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
