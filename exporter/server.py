"""The exporter process: one registry, one HTTP server, collectors started and closed."""

from __future__ import annotations

import errno
import logging
import signal
import threading
from collections.abc import Mapping
from types import FrameType
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from exporter.collectors import build_collectors
from exporter.collectors.base import Collector
from exporter.errors import ExporterError
from exporter.registry import build_registry
from stackwatch.config import Config, split_listen

log = logging.getLogger(__name__)


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
            self._server, self._thread = start_http_server(port, host, registry=self.registry)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ExporterError(f"cannot listen on {listen}: {reason}") from None
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
