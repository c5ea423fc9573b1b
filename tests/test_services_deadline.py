"""A probe's timeout bounds the whole probe, and one slow service never delays another.

The trickling and flooding servers here are raw sockets on 127.0.0.1 that the tests drive byte
by byte: no real server streams one byte a second, or an endless body, on demand.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from exporter.collectors import services as services_module
from exporter.collectors.services import ProbeResult, ServicesCollector, probe, probe_session
from exporter.registry import build_registry
from stackwatch.config import ServiceConfig
from tests.support.http import LocalServer
from tests.support.procs import wait_for
from tests.support.timing import within

Answer = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """Reads each request's head, then lets ``answer`` write to the socket; counts open ones."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/health"
        self.active = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.active += 1
        try:
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = conn.recv(4096)
                    if not data:
                        return
                    head += data
                self.answer(conn, self._stop)
        except OSError:
            pass  # the client dropped the connection: what the cap and the deadline do
        finally:
            with self._lock:
                self.active -= 1

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sock.close()


def trickle(prefix: bytes, data: bytes, period: float = 1.0) -> Answer:
    """Sends ``prefix`` at once, then ``data`` one byte every ``period`` seconds."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(prefix)
        for byte in data:
            if stop.wait(period):
                return
            conn.sendall(bytes([byte]))

    return answer


class Flood:
    """A 4 GiB body sent as fast as the client reads it, until it hangs up; counts what it sent."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4294967296\r\n\r\n")
        chunk = b"x" * 65536
        while not stop.is_set():
            conn.sendall(chunk)
            self.sent += len(chunk)


def service(name: str, url: str, timeout: float) -> ServiceConfig:
    return ServiceConfig.model_validate({"name": name, "url": url, "timeout": timeout})


def probe_in_thread(svc: ServiceConfig, ceiling: float) -> ProbeResult:
    """``probe`` run aside, so that a probe that never ends fails the test instead of hanging it."""
    results: list[ProbeResult] = []
    thread = threading.Thread(target=lambda: results.append(probe(probe_session(), svc)))
    thread.daemon = True
    thread.start()
    thread.join(ceiling)
    assert results, f"the probe of {svc.name} was still running after {ceiling:.1f}s"
    return results[0]


BODY = b"x" * 3600
TRICKLED_BODY = trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 3600\r\n\r\n", BODY)


def test_a_trickling_service_never_delays_another() -> None:
    """The case of the issue: a service streaming one byte a second froze every probe."""
    broken = threading.Event()

    def health(_: object) -> tuple[int, bytes]:
        return (500, b"boom") if broken.is_set() else (200, b"ok")

    with RawServer(TRICKLED_BODY) as slow, LocalServer(health) as flaky:
        services = [service("slow", slow.url, timeout=3), service("flaky", flaky.url, timeout=1)]
        collector = ServicesCollector(services, interval=0.5)
        registry = build_registry({"services": collector})

        def success(svc: ServiceConfig) -> float | None:
            labels = {"service": svc.name, "url": svc.url}
            return registry.get_sample_value("probe_success", labels)

        collector.start()
        try:
            wait_for(lambda: success(services[1]) == 1.0, within(3), "flaky's first probe")
            broken.set()
            wait_for(lambda: success(services[1]) == 0.0, within(2), "flaky's probe to fail")
            # ... while the trickling service is still being read
            assert slow.active == 1
            assert "slow" not in collector.results
            assert (
                registry.get_sample_value(
                    "stackwatch_scrape_collector_success", {"collector": "services"}
                )
                == 1.0
            )

            wait_for(lambda: "slow" in collector.results, within(5), "the slow probe")
            assert success(services[0]) == 0.0
            result = collector.results["slow"]
            assert result.status_code == 200  # the headers came at once, then the body trickled
            assert "timed out after 3s" in (result.error or "")
            duration = registry.get_sample_value(
                "probe_duration_seconds", {"service": "slow", "url": slow.url}
            )
            assert duration is not None
            assert 2.9 < duration < 3 + within(1)
        finally:
            collector.close()


def test_trickled_headers_time_out_at_the_deadline() -> None:
    """Even the status line and headers, one byte a second, are bounded by the timeout."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with RawServer(trickle(b"", answer)) as slow:
        result = probe_in_thread(service("slow", slow.url, timeout=2), within(4))
        wait_for(lambda: slow.active == 0, within(2), "the connection to be dropped")
    assert not result.success
    assert result.status_code == 0
    assert "timed out after 2s" in (result.error or "")
    assert 1.9 < result.duration < 2 + within(1)


def test_a_huge_body_is_cut_at_the_cap() -> None:
    """A service answering 4 GiB is read to the cap only, then the connection is dropped."""
    flood = Flood()
    with RawServer(flood) as server:
        result = probe_in_thread(service("big", server.url, timeout=2), within(4))
        wait_for(lambda: server.active == 0, within(2), "the connection to be dropped")
    assert result.success, result.error
    # what the server got out before the drop: the cap plus what the socket buffers held
    assert flood.sent < 32 * 2**20
    assert result.duration < within(1)
    assert result.body_bytes == services_module.BODY_LIMIT


def test_a_body_under_the_cap_is_read_whole() -> None:
    with LocalServer(lambda _: (200, b"y" * 1000)) as server:
        result = probe_in_thread(service("small", server.url, timeout=2), within(4))
    assert result.success
    assert result.body_bytes == 1000


def test_a_probe_stuck_resolving_its_host_is_served_as_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name lookup that hangs (a dead resolver) cannot be interrupted like a socket.

    The slow resolver is a patched ``socket.getaddrinfo`` for one made-up host: no resolver here
    can be made to hang on demand.
    """
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hanging-dns.test":
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    svc = service("dns", "http://hanging-dns.test/health", timeout=1)
    collector = ServicesCollector([svc], interval=60)
    registry = build_registry({"services": collector})
    labels = {"service": svc.name, "url": svc.url}
    collector.start()
    try:
        wait_for(
            lambda: registry.get_sample_value("probe_success", labels) == 0.0,
            1 + services_module.OVERDUE_GRACE + within(2),
            "the hanging probe to be served as failed",
        )
        assert "dns" not in collector.results  # the probe itself has not returned
        duration = registry.get_sample_value("probe_duration_seconds", labels)
        assert duration is not None
        assert duration > 1 + services_module.OVERDUE_GRACE
    finally:
        release.set()
        collector.close()
