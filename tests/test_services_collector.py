"""Service probes with blackbox_exporter's names, against real local HTTP(S) servers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from exporter.collectors.services import ServicesCollector, probe, probe_session
from exporter.registry import build_registry
from exporter.server import Exporter
from stackwatch.config import ServiceConfig
from tests.support.http import LocalServer, SilentServer, fixed, self_signed_cert
from tests.support.procs import wait_for
from tests.support.timing import within


def service(name: str, url: str, timeout: float = 1.0, **kwargs: object) -> ServiceConfig:
    return ServiceConfig.model_validate({"name": name, "url": url, "timeout": timeout, **kwargs})


def test_probe_results_for_ok_error_and_silent_services() -> None:
    with (
        LocalServer(fixed(200)) as ok,
        LocalServer(fixed(500, b"boom")) as failing,
        SilentServer() as silent,
    ):
        services = [
            service("ok", f"{ok.url}/health"),
            service("failing", f"{failing.url}/health"),
            service("silent", silent.url, timeout=0.5),
        ]
        collector = ServicesCollector(services, interval=60)
        collector.start()
        try:
            registry = build_registry({"services": collector})
            wait_for(lambda: len(collector.results) == 3, 10, "three probe results")

            def value(name: str, svc: ServiceConfig) -> float | None:
                return registry.get_sample_value(name, {"service": svc.name, "url": svc.url})

            assert [value("probe_success", s) for s in services] == [1.0, 0.0, 0.0]
            assert [value("probe_http_status_code", s) for s in services] == [200.0, 500.0, 0.0]
            silent_duration = value("probe_duration_seconds", services[2])
            assert silent_duration is not None
            assert 0.4 < silent_duration < within(2)
            assert value("probe_ssl_earliest_cert_expiry", services[0]) is None
        finally:
            collector.close()


def test_expected_status_list() -> None:
    with LocalServer(fixed(204, b"")) as server:
        ok = probe(probe_session(), service("x", server.url, expected_status=[200, 204]))
        not_ok = probe(probe_session(), service("x", server.url))
    assert ok.success
    assert not not_ok.success
    assert not_ok.error == "unexpected status 204"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_certificate_expiry(tmp_path: Path) -> None:
    cert, key, expiry = self_signed_cert(tmp_path, days=10)
    with LocalServer(fixed(200), tls=(cert, key)) as server:
        result = probe(probe_session(), service("tls", server.url, verify_tls=False))
        verified = probe(probe_session(), service("tls", server.url))
    assert result.success
    assert result.cert_expiry == expiry.timestamp()
    # with verification on, a self-signed certificate is a failed probe, not a crash
    assert not verified.success
    assert verified.status_code == 0
    assert "SSLError" in (verified.error or "")


def test_hanging_service_never_slows_a_scrape() -> None:
    with SilentServer() as silent, LocalServer(fixed(200)) as ok:
        services = [service("silent", silent.url, timeout=3), service("ok", ok.url)]
        exporter = Exporter({"services": ServicesCollector(services, interval=1)})
        host, port = exporter.serve("127.0.0.1:0")
        try:
            wait_for(lambda: "ok" in exporter.collectors["services"].results, 5, "the ok probe")  # type: ignore[attr-defined]
            durations = []
            for _ in range(5):
                start = time.perf_counter()
                response = requests.get(f"http://{host}:{port}/metrics", timeout=5)
                durations.append(time.perf_counter() - start)
                assert response.status_code == 200
            assert 'probe_success{service="ok"' in response.text
            # the silent probe takes 3 s; every scrape is served from the latest results
            assert max(durations) < within(0.5)
        finally:
            exporter.close()
