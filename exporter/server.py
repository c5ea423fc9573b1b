"""The exporter process: one registry, one HTTP server, collectors started and closed."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from types import FrameType
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry

from exporter.collectors import build_collectors
from exporter.collectors.base import Collector
from exporter.errors import ExporterError
from exporter.exposition import CONTENT_TYPE, TextRenderer
from exporter.registry import build_registry
from stackwatch.config import Config, split_listen

log = logging.getLogger(__name__)


class _Server(ThreadingMixIn, WSGIServer):
    """A thread per scrape, and a listen backlog deep enough for bursts of scrapers."""

    daemon_threads = True
    request_queue_size = 128


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


_LANDING = (
    b"<html><head><title>stackwatch exporter</title></head><body><h1>stackwatch exporter</h1>"
    b'<p><a href="/metrics">Metrics</a></p></body></html>'
)

StartResponse = Callable[[str, list[tuple[str, str]]], object]


def metrics_app(
    registry: CollectorRegistry,
) -> Callable[[dict[str, object], StartResponse], Iterable[bytes]]:
    """A WSGI app serving the text format at /metrics and a small landing page at /."""
    renderer = TextRenderer()  # its cache is a dict: safe to share between scrape threads

    def app(environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            body = renderer.render_registry(registry)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
            return [body]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [_LANDING]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics\n"]

    return app


class Exporter:
    """Collectors behind one registry, served over HTTP at ``/metrics``."""

    def __init__(self, collectors: Mapping[str, Collector]) -> None:
        self.collectors = dict(collectors)
        self.registry: CollectorRegistry = build_registry(self.collectors)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: Config) -> Exporter:
        return cls(build_collectors(config))

    def serve(self, listen: str) -> tuple[str, int]:
        """Start the collectors and the HTTP server; returns the bound address."""
        host, port = split_listen(listen)
        try:
            self._server = make_server(
                host,
                port,
                metrics_app(self.registry),
                _Server6 if ":" in host else _Server,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ExporterError(f"cannot listen on {listen}: {reason}") from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )
        self._thread.start()
        for collector in self.collectors.values():
            collector.start()
        bound_host, bound_port = self._server.server_address[:2]
        log.info(
            "serving /metrics on http://%s:%d with collectors: %s",
            host,
            bound_port,
            ", ".join(self.collectors) or "none",
        )
        return str(bound_host), int(bound_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for collector in self.collectors.values():
            collector.close()


def run(config: Config, listen: str | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly."""
    exporter = Exporter.from_config(config)
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    try:
        exporter.serve(listen or config.exporter.listen)
        stop.wait()
    finally:
        exporter.close()
