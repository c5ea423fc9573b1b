"""With ``HTTP_PROXY``/``HTTPS_PROXY`` set (``requests`` honours them), Prometheus queries and
service probes go through proxy connections; the deadline holds for those too.

No real proxy can be made to answer slowly, so a local stand-in plays one that trickles its
answer (to a plain request and to ``CONNECT`` alike) one byte at a time, each byte well within
any per-read timeout: only the deadline on the whole exchange stops it.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from exporter.collectors.services import probe, probe_session
from stackwatch.config import PrometheusConfig, ServiceConfig
from stackwatch.prometheus import PrometheusClient, TransientPrometheusError
from tests.support.timing import within

ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n"
    + b'{"status":"success","data":{"resultType":"vector","result":[]}}'[:60]
)


class TricklingProxy:
    """Reads a request's head (``GET http://...`` or ``CONNECT host:port``), then trickles
    ``ANSWER`` one byte every ``interval``; counts the requests it was given."""

    def __init__(self, interval: float = 0.1) -> None:
        outer = self
        self.stopped = threading.Event()
        self.requests: list[bytes] = []

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                outer.requests.append(head.split(b"\r\n", 1)[0])
                for i in range(len(ANSWER)):
                    if outer.stopped.wait(interval):
                        return
                    try:
                        sock.sendall(ANSWER[i : i + 1])
                    except OSError:
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TricklingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[TricklingProxy]:
    with TricklingProxy() as server:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, server.url)
        yield server


# the target is never contacted: every byte goes through the proxy
@pytest.mark.parametrize("url", ["http://192.0.2.1:9090", "https://192.0.2.1:9090"])
def test_a_query_through_a_trickling_proxy_ends_at_the_deadline(
    proxy: TricklingProxy, url: str
) -> None:
    config = PrometheusConfig(url=url, timeout=0.5, retries=0)
    with PrometheusClient(config) as client:
        started = time.monotonic()
        with pytest.raises(TransientPrometheusError, match=r"within its timeout of 0\.5s"):
            client.query("up")
        assert time.monotonic() - started < within(1.5)
    assert len(proxy.requests) == 1
    assert proxy.requests[0].split()[0] == (b"CONNECT" if url.startswith("https") else b"POST")


@pytest.mark.parametrize("url", ["http://192.0.2.1:8080/health", "https://192.0.2.1:8443/"])
def test_a_probe_through_a_trickling_proxy_ends_at_the_deadline(
    proxy: TricklingProxy, url: str
) -> None:
    service = ServiceConfig(name="web", url=url, timeout=0.5)
    started = time.monotonic()
    result = probe(probe_session(), service)
    assert time.monotonic() - started < within(1.5)
    assert not result.success
    assert result.error is not None
    assert result.error.startswith("Timeout: timed out after 0.5s")
    assert len(proxy.requests) == 1


def test_a_socks_proxy_is_refused_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    # PySocks makes a SOCKS proxy's connections, out of the watchdog's sight
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "socks5://ops:s3cret@127.0.0.1:1")
    result = probe(probe_session(), ServiceConfig(name="web", url="http://192.0.2.1/", timeout=1))
    assert not result.success
    assert result.error is not None
    assert "SOCKS proxy socks5://127.0.0.1:1 not supported" in result.error
    assert "s3cret" not in result.error
