"""Small local HTTP(S) servers for tests: fixed answers, slow answers, or none at all."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

Handler = Callable[[BaseHTTPRequestHandler], tuple[int, bytes]]


PROMETHEUS_TEXT = "text/plain; version=0.0.4"


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that writes no access log."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class ThreadedServer:
    """``request_class`` served on a free port of 127.0.0.1 (HTTPS with ``tls``, a certificate
    and key) from a daemon thread: from ``start`` or ``with`` until ``close`` or the block's end."""

    def __init__(
        self, request_class: type[BaseHTTPRequestHandler], tls: tuple[Path, Path] | None = None
    ) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), request_class)
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        # a short poll: ``close`` returns within 50 ms
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> Self:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalServer(ThreadedServer):
    """A threaded HTTP server on 127.0.0.1 answering every GET with ``handler(request)``."""

    def __init__(
        self,
        handler: Handler,
        tls: tuple[Path, Path] | None = None,
        content_type: str | None = None,
    ) -> None:
        outer = self

        class _Request(QuietHandler):
            def do_GET(self) -> None:
                status, body = outer.handler(self)
                self.send_response(status)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.handler = handler
        super().__init__(_Request, tls)


def fixed(status: int, body: bytes = b"ok", delay: float = 0.0) -> Handler:
    def handler(request: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        time.sleep(delay)
        return status, body

    return handler


class SilentServer:
    """Accepts TCP connections and never answers: the worst kind of dead service."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/health"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def self_signed_cert(folder: Path, days: int) -> tuple[Path, Path, dt.datetime]:
    """A self-signed certificate for 127.0.0.1 expiring in ``days``; returns cert, key, expiry."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(tz=dt.UTC).replace(microsecond=0)
    expiry = now + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(expiry)
        # usable as its own CA, as a service account's ca.crt is
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, expiry


class TricklingServer(ThreadedServer):
    """Answers every POST (and GET) with ``status`` and ``body``, one byte every ``interval``.

    No real server can be made to send slowly; this one stands in for a Prometheus (or any
    service) whose answer crawls in: each socket read returns a byte well within any per-read
    timeout, so only a deadline on the whole exchange stops it. With ``headers`` on, the
    status line and headers trickle too. ``stop`` ends every answer still trickling.
    """

    def __init__(
        self,
        body: bytes,
        interval: float = 0.05,
        status: int = 200,
        trickle_headers: bool = False,
    ) -> None:
        outer = self
        self.stopped = threading.Event()
        self.requests = 0

        class _Request(QuietHandler):
            def do_POST(self) -> None:
                outer.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                head = (
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                ).encode()
                if not trickle_headers:
                    self.wfile.write(head)
                    self.wfile.flush()
                    head = b""
                for i in range(len(head) + len(body)):
                    if outer.stopped.wait(interval):
                        return
                    try:
                        self.wfile.write((head + body)[i : i + 1])
                        self.wfile.flush()
                    except OSError:
                        return

            def do_GET(self) -> None:
                self.do_POST()

        super().__init__(_Request)

    def close(self) -> None:
        self.stopped.set()
        super().close()


class RecordingServer(ThreadedServer):
    """Records every POST (path, headers, body) and answers with the next status of
    ``statuses`` (the last one repeats): a webhook receiver that can fail, then recover."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        outer = self
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()

        class _Request(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    status = outer.statuses[min(len(outer.requests), len(outer.statuses) - 1)]
                    outer.requests.append((self.path, dict(self.headers), body, status))
                answer = b"ok" if status < 300 else b"try again later"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        super().__init__(_Request)

    @property
    def accepted(self) -> list[bytes]:
        """The bodies answered with 2xx: what the receiver took."""
        with self.lock:
            return [body for _, _, body, status in self.requests if 200 <= status < 300]
