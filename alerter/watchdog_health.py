"""The watchdog's own health endpoint (``--listen``): ``/health`` answers 200 while its last look
finished recently, 503 when looks fail or hang, so a launcher or a container health check can
tell a live watchdog from a stuck one."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Liveness:
    """When the last look finished (monotonic); healthy while that is within ``max_age``."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self.last_look: float | None = None

    def looked(self) -> None:
        self.last_look = time.monotonic()

    def healthy(self) -> bool:
        last = self.last_look
        return last is not None and time.monotonic() - last <= self.max_age


def serve_health(listen: str, liveness: Liveness) -> ThreadingHTTPServer:
    """Serve ``/health`` on ``HOST:PORT`` in a daemon thread; returns the server."""
    host, port = listen.rsplit(":", 1)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/health":
                self.send_error(404)
                return
            ok = liveness.healthy()
            body = b"ok\n" if ok else b"no recent look\n"
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # a health check every few seconds is not worth a log line

    server = ThreadingHTTPServer((host, int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="watchdog-health", daemon=True).start()
    return server
