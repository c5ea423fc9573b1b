"""HTTP(S) probes of the configured services with blackbox_exporter's metric names.

Probes run in the background every ``exporter.probe_interval``; a scrape only reads the latest
results, so a slow or dead service never slows it down.

# HELP probe_success Whether the latest background probe succeeded (1) or not (0).
# TYPE probe_success gauge
# HELP probe_duration_seconds How long the latest background probe took, in seconds.
# TYPE probe_duration_seconds gauge
# HELP probe_http_status_code HTTP status of the latest background probe, 0 without a response.
# TYPE probe_http_status_code gauge
# HELP probe_ssl_earliest_cert_expiry Expiry of the peer's leaf certificate, in unixtime.
# TYPE probe_ssl_earliest_cert_expiry gauge
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from exporter.collectors.base import Collector
from exporter.refresh import RefreshLoop
from stackwatch import __version__
from stackwatch.config import Config, ServiceConfig

log = logging.getLogger(__name__)

_HELP = " (result of the latest background probe, run every probe_interval)"


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    duration: float
    status_code: int
    cert_expiry: float | None
    finished_at: float
    error: str | None = None


class _CertRecordingConnection(HTTPSConnection):
    """Keeps the peer's certificate from the handshake, since the socket may close early."""

    peer_cert: bytes | None = None

    def connect(self) -> None:
        super().connect()
        getpeercert = getattr(self.sock, "getpeercert", None)
        self.peer_cert = getpeercert(binary_form=True) if getpeercert else None


class _CertRecordingPool(HTTPSConnectionPool):
    ConnectionCls = _CertRecordingConnection


def probe_session() -> requests.Session:
    """A session whose HTTPS connections remember the server certificate."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=16)
    adapter.poolmanager.pool_classes_by_scheme = {
        "http": HTTPConnectionPool,
        "https": _CertRecordingPool,
    }
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = f"stackwatch/{__version__}"
    return session


def _peer_cert_expiry(response: requests.Response) -> float | None:
    """notAfter of the server's leaf certificate, as unixtime."""
    from cryptography import x509

    der = getattr(getattr(response.raw, "connection", None), "peer_cert", None)
    if not der:
        return None
    return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()


def probe(session: requests.Session, service: ServiceConfig) -> ProbeResult:
    """GET the service's URL once; success means an expected status within the timeout."""
    start = time.perf_counter()
    status = 0
    expiry = None
    error = None
    try:
        with session.get(
            service.url, timeout=service.timeout, verify=service.verify_tls, stream=True
        ) as response:
            status = response.status_code
            if service.url.startswith("https:"):
                expiry = _peer_cert_expiry(response)
            for _ in response.iter_content(65536):
                if time.perf_counter() - start > service.timeout:
                    raise requests.Timeout(f"body not read within {service.timeout}s")
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration = time.perf_counter() - start
    success = error is None and status in service.expected_status
    if error is None and not success:
        error = f"unexpected status {status}"
    return ProbeResult(success, duration, status, expiry, time.time(), error)


class ServicesCollector(Collector):
    """Serves the latest result of each service's background probe."""

    name = "services"

    def __init__(self, services: Sequence[ServiceConfig], interval: float) -> None:
        self.services = list(services)
        self.interval = interval
        self.results: dict[str, ProbeResult] = {}
        self._lock = threading.Lock()
        self._session = probe_session()
        self._pool: ThreadPoolExecutor | None = None
        self._loop = RefreshLoop(
            "service-probes",
            interval,
            self._probe_round,
            join_timeout=max((s.timeout for s in self.services), default=0.0) + 1,
        )

    @classmethod
    def from_config(cls, config: Config) -> ServicesCollector:
        return cls(config.services, config.exporter.probe_interval)

    def start(self) -> None:
        if self.services:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=min(16, len(self.services)), thread_name_prefix="probe"
                )
            self._loop.start()

    def close(self) -> None:
        self._loop.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        self._session.close()

    def probe_all(self, pool: ThreadPoolExecutor) -> None:
        """Probe every service concurrently and store the results as they finish."""

        def run(service: ServiceConfig) -> None:
            result = probe(self._session, service)
            with self._lock:
                previous = self.results.get(service.name)
                self.results[service.name] = result
            if (previous is None or previous.success) and not result.success:
                log.warning("service %s is down: %s", service.name, result.error)
            elif previous is not None and not previous.success and result.success:
                log.info("service %s is up again", service.name)

        list(pool.map(run, self.services))

    def _probe_round(self) -> None:
        pool = self._pool  # read once: close() may clear it while a round starts
        if pool is not None:
            self.probe_all(pool)

    def collect(self) -> Iterator[Metric]:
        labels = ["service", "url"]
        success = GaugeMetricFamily(
            "probe_success", "Whether the probe succeeded (1) or not (0)" + _HELP, labels=labels
        )
        duration = GaugeMetricFamily(
            "probe_duration_seconds", "How long the probe took, in seconds" + _HELP, labels=labels
        )
        status = GaugeMetricFamily(
            "probe_http_status_code",
            "HTTP status code of the response, 0 when there was none" + _HELP,
            labels=labels,
        )
        expiry = GaugeMetricFamily(
            "probe_ssl_earliest_cert_expiry",
            "Expiry of the peer's leaf TLS certificate, in unixtime" + _HELP,
            labels=labels,
        )
        with self._lock:
            results = dict(self.results)
        for service in self.services:
            result = results.get(service.name)
            if result is None:
                continue
            values = [service.name, service.url]
            success.add_metric(values, 1.0 if result.success else 0.0)
            duration.add_metric(values, result.duration)
            status.add_metric(values, float(result.status_code))
            if result.cert_expiry is not None:
                expiry.add_metric(values, result.cert_expiry)
        yield from (success, duration, status, expiry)
