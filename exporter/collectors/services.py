"""HTTP(S) probes of the configured services with blackbox_exporter's metric names.

Each service is probed on its own background loop every ``exporter.probe_interval``; a scrape
only reads the latest results, so a slow or dead service never slows a scrape, nor another
service's probe. A service's ``timeout`` is a deadline for the whole probe (connect, TLS,
headers, body): when it passes, the probe's socket is shut down, whatever the server is doing.
The body is read to ``BODY_LIMIT`` bytes at most, then the connection is dropped.

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

import functools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import requests
import urllib3.exceptions
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from urllib3.connectionpool import HTTPSConnectionPool

from exporter.collectors.base import Collector
from exporter.refresh import RefreshLoop
from stackwatch import __version__
from stackwatch.config import Config, ServiceConfig
from stackwatch.deadline_http import (
    DeadlineAdapter,
    DeadlineExceededError,
    DeadlineTLSConnection,
    Watchdog,
)
from stackwatch.errors import StackwatchError

log = logging.getLogger(__name__)

_HELP = " (result of the latest background probe, run every probe_interval)"

BODY_LIMIT = 64 * 1024
"""Bytes of a response body a probe reads at most (on the wire); the rest is never fetched."""

_READ_SIZE = 16 * 1024

OVERDUE_GRACE = 1.0
"""Seconds past its timeout after which a probe still running is served as timed out."""


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    duration: float
    status_code: int
    cert_expiry: float | None
    finished_at: float
    error: str | None = None
    body_bytes: int = 0


class _CertRecordingConnection(DeadlineTLSConnection):
    """Keeps the peer's certificate from the handshake, since the socket may close early."""

    peer_cert: bytes | None = None

    def connect(self) -> None:
        super().connect()
        getpeercert = getattr(self.sock, "getpeercert", None)
        self.peer_cert = getpeercert(binary_form=True) if getpeercert else None


class _CertRecordingPool(HTTPSConnectionPool):
    ConnectionCls = _CertRecordingConnection


def probe_session() -> requests.Session:
    """A session for probes: each connection is closed after its answer and watched by the
    probe's deadline; HTTPS connections remember the server certificate."""
    session = requests.Session()
    adapter = DeadlineAdapter(pool_maxsize=1, pools={"https": _CertRecordingPool})
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = f"stackwatch/{__version__}"
    session.headers["Connection"] = "close"  # a fresh connection per probe, as blackbox's
    return session


def _peer_cert_expiry(response: requests.Response) -> float | None:
    """notAfter of the server's leaf certificate, as unixtime."""
    from cryptography import x509

    der = getattr(getattr(response.raw, "connection", None), "peer_cert", None)
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:  # a certificate cryptography cannot read: no expiry, the probe goes on
        log.debug("cannot read the certificate of %s", response.url)
        return None


def _read_body(response: requests.Response, limit: int) -> int:
    """Read the raw body up to ``limit`` bytes, as it arrives; return how many were read."""
    read = 0
    while read < limit:
        chunk = response.raw.read1(min(_READ_SIZE, limit - read), decode_content=False)
        if not chunk:
            break
        read += len(chunk)
    return read


def probe(session: requests.Session, service: ServiceConfig) -> ProbeResult:
    """GET the service's URL once; success means an expected status within the timeout.

    The timeout is a deadline for the whole probe; the body is read to ``BODY_LIMIT`` bytes,
    then the connection is closed.
    """
    start = time.monotonic()
    status = 0
    expiry = None
    error = None
    body = 0
    with Watchdog(start + service.timeout) as watchdog:
        try:
            auth = service.basic_auth
            with session.get(
                service.url,
                timeout=service.timeout,
                verify=service.verify_tls,
                stream=True,
                auth=(auth.username, auth.password.get()) if auth else None,
            ) as response:
                status = response.status_code
                if service.url.startswith("https:"):
                    expiry = _peer_cert_expiry(response)
                body = _read_body(response, BODY_LIMIT)
                # dropped here by the with: what is left of a longer body is never fetched
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except DeadlineExceededError:
            error = "deadline"  # worded below
        except StackwatchError as exc:  # its password's variable or file is missing
            error = str(exc)
    duration = time.monotonic() - start
    if watchdog.fired or duration > service.timeout:
        phase = f"reading the body ({body} bytes read)" if status else "waiting for the answer"
        error = f"Timeout: timed out after {service.timeout:g}s {phase}"
    success = error is None and status in service.expected_status
    if error is None and not success:
        error = f"unexpected status {status}"
    return ProbeResult(success, duration, status, expiry, time.time(), error, body)


def _overdue(service: ServiceConfig, elapsed: float) -> ProbeResult:
    """What a probe still running past its deadline shows: the deadline shuts its socket down,
    but not a name lookup (getaddrinfo cannot be interrupted), so it is failed here."""
    error = f"Timeout: timed out after {service.timeout:g}s (still resolving the host name)"
    return ProbeResult(False, elapsed, 0, None, time.time(), error)


class ServicesCollector(Collector):
    """Serves the latest result of each service's background probe."""

    name = "services"

    def __init__(self, services: Sequence[ServiceConfig], interval: float) -> None:
        self.services = list(services)
        self.interval = interval
        self.results: dict[str, ProbeResult] = {}
        self._running: dict[str, float] = {}  # service name -> monotonic start of its probe
        self._lock = threading.Lock()
        # one loop per service: a hanging or streaming service delays only its own next probe
        self._loops = [
            RefreshLoop(
                f"probe-{service.name}",
                interval,
                functools.partial(self.probe_one, service),
                join_timeout=service.timeout + 1,
            )
            for service in self.services
        ]

    @classmethod
    def from_config(cls, config: Config) -> ServicesCollector:
        return cls(config.services, config.exporter.probe_interval)

    def start(self) -> None:
        for loop in self._loops:
            loop.start()

    def close(self) -> None:
        for loop in self._loops:
            loop.stop()  # all at once, so that none starts another probe while we wait
        for loop in self._loops:
            loop.close()

    def probe_one(self, service: ServiceConfig) -> None:
        """Probe one service on a fresh session and store its result."""
        with self._lock:
            self._running[service.name] = time.monotonic()
        with probe_session() as session:
            result = probe(session, service)
        with self._lock:
            del self._running[service.name]
            previous = self.results.get(service.name)
            self.results[service.name] = result
        if (previous is None or previous.success) and not result.success:
            log.warning("service %s is down: %s", service.name, result.error)
        elif previous is not None and not previous.success and result.success:
            log.info("service %s is up again", service.name)

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
            running = dict(self._running)
        now = time.monotonic()
        for service in self.services:
            result = results.get(service.name)
            started = running.get(service.name)
            if started is not None and now - started > service.timeout + OVERDUE_GRACE:
                result = _overdue(service, now - started)
            if result is None:
                continue
            values = [service.name, service.url]
            success.add_metric(values, 1.0 if result.success else 0.0)
            duration.add_metric(values, result.duration)
            status.add_metric(values, float(result.status_code))
            if result.cert_expiry is not None:
                expiry.add_metric(values, result.cert_expiry)
        yield from (success, duration, status, expiry)
