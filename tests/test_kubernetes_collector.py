"""The Kubernetes collector through the real ``kubernetes`` client.

No real API server can run here, so a local HTTP server serves realistic list JSON of every kind
the collector reads (tests/fixtures/k8s/: nodes, pods, namespaces, resource quotas, PVCs, PVs,
deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs, autoscaling/v2 HPAs, with
``limit``/``continue`` pagination like the API server) to the real client, configured through a
kubeconfig that points at it.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from exporter.collectors import build_collectors
from exporter.collectors.host import HostCollector
from exporter.collectors.kubernetes import KubernetesCollector
from exporter.registry import build_registry
from exporter.server import Exporter
from stackwatch.config import Config
from tests.support.http import LocalServer, SilentServer, self_signed_cert
from tests.support.procs import wait_for
from tests.support.timing import within

FIXTURES = Path(__file__).parent / "fixtures" / "k8s"
LIST_PATHS = {
    "/api/v1/nodes": "nodes.json",
    "/api/v1/pods": "pods.json",
    "/api/v1/namespaces": "namespaces.json",
    "/api/v1/resourcequotas": "resourcequotas.json",
    "/api/v1/persistentvolumeclaims": "pvcs.json",
    "/api/v1/persistentvolumes": "pvs.json",
    "/apis/apps/v1/deployments": "deployments.json",
    "/apis/apps/v1/statefulsets": "statefulsets.json",
    "/apis/apps/v1/daemonsets": "daemonsets.json",
    "/apis/apps/v1/replicasets": "replicasets.json",
    "/apis/batch/v1/jobs": "jobs.json",
    "/apis/batch/v1/cronjobs": "cronjobs.json",
    "/apis/autoscaling/v2/horizontalpodautoscalers": "hpas.json",
}
# What kube-state-metrics would expose for the fixtures, family by family (HELP, TYPE, samples).
GOLDEN = FIXTURES / "kube-state-metrics.prom"

Series = set[tuple[str, tuple[tuple[str, str], ...], float]]


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class FakeApiServer:
    """Answers list calls like the API server: ``limit`` pages, an opaque ``continue`` token."""

    def __init__(
        self, lists: dict[str, dict[str, Any]] | None = None, tls: tuple[Path, Path] | None = None
    ) -> None:
        self.lists = lists or {path: load_fixture(name) for path, name in LIST_PATHS.items()}
        self.status = 200
        self.forbidden: set[str] = set()  # list paths answered 403, as for a role without them
        self.requests: list[str] = []
        self.authorizations: set[str | None] = set()
        self.server = LocalServer(self._handle, tls=tls)
        self.url = self.server.url

    def __enter__(self) -> FakeApiServer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @staticmethod
    def _status(code: int, reason: str, message: str) -> bytes:
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        return json.dumps({**status, "message": message, "reason": reason, "code": code}).encode()

    def _handle(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        self.requests.append(request.path)
        self.authorizations.add(request.headers.get("Authorization"))
        url = urlsplit(request.path)
        if self.status != 200:
            return self.status, self._status(
                self.status, "InternalError", "etcdserver: leader changed"
            )
        if url.path in self.forbidden:
            resource = url.path.rsplit("/", 1)[1]
            return 403, self._status(
                403,
                "Forbidden",
                f'{resource} is forbidden: User "system:serviceaccount:stackwatch:stackwatch" '
                f'cannot list resource "{resource}" at the cluster scope',
            )
        document = self.lists.get(url.path)
        if document is None:
            return 404, self._status(404, "NotFound", "the server could not find the resource")
        query = parse_qs(url.query)
        token = query.get("continue", [""])[0]
        start = int(base64.b64decode(token)) if token else 0
        limit = int(query.get("limit", ["0"])[0]) or len(document["items"])
        items = document["items"][start : start + limit]
        metadata = dict(document["metadata"])
        if start + limit < len(document["items"]):
            metadata["continue"] = base64.b64encode(str(start + limit).encode()).decode()
        return 200, json.dumps({**document, "metadata": metadata, "items": items}).encode()


def write_kubeconfig(folder: Path, server: str) -> Path:
    """A kubeconfig like k3s.yaml, pointing at ``server`` with a bearer token."""
    path = folder / "k3s.yaml"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "default", "cluster": {"server": server}}],
        "users": [{"name": "default", "user": {"token": "stackwatch-test-token"}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
        "current-context": "default",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def make_config(kubeconfig: Path, **settings: Any) -> Config:
    return Config.model_validate(
        {"kubernetes": {"enabled": True, "kubeconfig": str(kubeconfig), **settings}}
    )


def kube_exposition(registry: CollectorRegistry) -> str:
    """The kube_* families in the text format, samples sorted within each family."""
    lines: list[str] = []
    for family in registry.collect():
        if not family.name.startswith("kube_"):
            continue
        single = CollectorRegistry(auto_describe=False)
        single.register(_Fixed(family))
        text = generate_latest(single).decode().splitlines()
        lines += [*text[:2], *sorted(text[2:])]
    return "\n".join(lines) + "\n"


class _Fixed:
    """A registry member that yields one already collected family."""

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> list[Metric]:
        return [self.family]


def kube_series(registry: CollectorRegistry) -> Series:
    return {
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith("kube_")
    }


@pytest.fixture
def api_server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def collector(api_server: FakeApiServer, tmp_path: Path) -> Iterator[KubernetesCollector]:
    config = make_config(
        write_kubeconfig(tmp_path, api_server.url), refresh_interval="200ms", page_size=2
    )
    collector = KubernetesCollector.from_config(config)
    collector.start()
    yield collector
    collector.close()


def success(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value(
        "stackwatch_scrape_collector_success", {"collector": "kubernetes"}
    )


def test_in_cluster_config_reads_the_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``in_cluster: true`` as in a pod: the API address from KUBERNETES_SERVICE_HOST/PORT, the
    service account's token and CA certificate from their files. No API server can run here: the
    local server answers the same fixture JSON over TLS with a certificate the CA file holds."""
    from kubernetes.config import incluster_config

    cert, key, _ = self_signed_cert(tmp_path, days=30)
    token = tmp_path / "token"
    token.write_text("service-account-token")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(cert))
    config = Config.model_validate({"kubernetes": {"enabled": True, "in_cluster": True}})

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    outside = KubernetesCollector.from_config(config)
    outside.refresh()
    with pytest.raises(Exception, match="Service host/port is not set"):
        list(outside.collect())

    with FakeApiServer(tls=(cert, key)) as server:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", server.url.rsplit(":", 1)[1])
        collector = KubernetesCollector.from_config(config)
        collector.refresh()
        registry = build_registry({"kubernetes": collector})
        assert success(registry) == 1.0
        assert kube_exposition(registry) == GOLDEN.read_text()
        collector.close()
    assert server.authorizations == {"bearer service-account-token"}


def test_lists_are_paginated_with_limit_and_continue(
    collector: KubernetesCollector, api_server: FakeApiServer
) -> None:
    registry = build_registry({"kubernetes": collector})
    wait_for(lambda: success(registry) == 1.0, 10, "the first cluster snapshot")
    pod_requests = [r for r in api_server.requests if r.startswith("/api/v1/pods")]
    assert all("limit=2" in r for r in pod_requests)
    # six pods in pages of two: the later pages are asked for with the server's token
    # the first refresh has finished: its three pages were asked for in a row
    assert ["continue=" in r for r in pod_requests[:3]] == [False, True, True]
    assert kube_exposition(registry) == GOLDEN.read_text()


def test_snapshot_age_is_exported_and_refreshed(
    collector: KubernetesCollector, api_server: FakeApiServer
) -> None:
    registry = build_registry({"kubernetes": collector})
    wait_for(lambda: success(registry) == 1.0, 10, "the first cluster snapshot")
    age = registry.get_sample_value("stackwatch_kubernetes_snapshot_age_seconds")
    assert age is not None
    assert 0 <= age < within(5)
    # a deleted pod disappears once the background refresh has seen it gone
    pods = api_server.lists["/api/v1/pods"]
    pods["items"] = [p for p in pods["items"] if p["metadata"]["name"] != "backup-28874160-h5j7k"]
    labels = {
        "namespace": "batch",
        "pod": "backup-28874160-h5j7k",
        "uid": "9c1e3a5b-7d9f-4c1e-8a3b-5d7f9c1e3a5b",
        "phase": "Succeeded",
    }
    wait_for(
        lambda: registry.get_sample_value("kube_pod_status_phase", labels) is None,
        10,
        "the deleted pod to disappear",
    )


def test_api_errors_fail_only_this_collector_and_log_once(
    api_server: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api_server.status = 500
    config = make_config(write_kubeconfig(tmp_path, api_server.url), refresh_interval="100ms")
    collector = KubernetesCollector.from_config(config)
    host = HostCollector.from_config(Config())
    registry = build_registry({"host": host, "kubernetes": collector})
    collector.start()
    try:
        with caplog.at_level(logging.ERROR, logger="exporter.registry"):
            wait_for(lambda: len(api_server.requests) >= 3, 10, "three failed refreshes")
            for _ in range(5):
                started = time.perf_counter()
                assert success(registry) == 0.0
                assert time.perf_counter() - started < within(1)
                time.sleep(0.1)
        assert registry.get_sample_value("node_load1") is not None
        assert registry.get_sample_value("kube_pod_status_phase") is None
        failures = [r.getMessage() for r in caplog.records if "kubernetes" in r.getMessage()]
        assert len(failures) == 1
        assert "HTTP 500 Internal Server Error: etcdserver: leader changed" in failures[0]
        api_server.status = 200
        wait_for(lambda: success(registry) == 1.0, 10, "recovery after the API answers again")
    finally:
        collector.close()


def test_hanging_api_never_blocks_start_up_or_scrapes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SilentServer() as silent:
        server_url = silent.url.removesuffix("/health")
        config = make_config(
            write_kubeconfig(tmp_path, server_url), refresh_interval="1s", timeout="500ms"
        )
        exporter = Exporter({"host": HostCollector.from_config(config), **build_collectors(config)})
        started = time.perf_counter()
        host, port = exporter.serve("127.0.0.1:0")
        try:
            assert time.perf_counter() - started < within(1)
            for _ in range(3):
                started = time.perf_counter()
                response = requests.get(f"http://{host}:{port}/metrics", timeout=5)
                assert time.perf_counter() - started < within(1)
                assert response.status_code == 200
                assert 'stackwatch_scrape_collector_success{collector="kubernetes"} 0.0' in (
                    response.text
                )
                assert 'stackwatch_scrape_collector_success{collector="host"} 1.0' in (
                    response.text
                )
                assert "node_load1 " in response.text
                time.sleep(0.4)

            # after the client timeout the error names the timeout, not a missing snapshot
            def timeout_logged() -> bool:
                return any("timed out" in r.getMessage() for r in caplog.records)

            wait_for(timeout_logged, 5, "the read timeout to be logged")
        finally:
            exporter.close()


def test_disabled_unless_configured(tmp_path: Path) -> None:
    assert "kubernetes" not in build_collectors(Config())
    kubeconfig = write_kubeconfig(tmp_path, "http://127.0.0.1:9")
    enabled = build_collectors(make_config(kubeconfig))
    assert isinstance(enabled["kubernetes"], KubernetesCollector)
    switched_off = Config.model_validate(
        {
            "kubernetes": {"enabled": True, "kubeconfig": str(kubeconfig)},
            "exporter": {"collectors": {"kubernetes": False}},
        }
    )
    assert "kubernetes" not in build_collectors(switched_off)


def test_missing_kubeconfig_is_a_collector_failure(tmp_path: Path) -> None:
    collector = KubernetesCollector.from_config(make_config(tmp_path / "absent.yaml"))
    collector.refresh()
    registry = build_registry({"kubernetes": collector})
    assert success(registry) == 0.0


def test_two_thousand_pods_parse_fast(tmp_path: Path) -> None:
    """A 2,000-pod list (the fixture pods, cloned) is read and served in well under a second."""
    lists = {path: load_fixture(name) for path, name in LIST_PATHS.items()}
    lists["/api/v1/pods"]["items"] = clone_pods(lists["/api/v1/pods"]["items"], 2000)
    with FakeApiServer(lists) as server:
        config = make_config(write_kubeconfig(tmp_path, server.url), refresh_interval="1h")
        collector = KubernetesCollector.from_config(config)
        started = time.perf_counter()
        collector.refresh()
        refresh = time.perf_counter() - started
        registry = build_registry({"kubernetes": collector})
        started = time.perf_counter()
        phases = [
            s
            for f in registry.collect()
            for s in f.samples
            if s.name == "kube_pod_status_phase" and s.value == 1
        ]
        scrape = time.perf_counter() - started
        collector.close()
    assert len(phases) == 2000
    assert refresh < within(5), f"refresh took {refresh:.2f}s"
    assert scrape < within(0.5), f"scrape took {scrape:.2f}s"


def clone_pods(templates: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` distinct pods made from the fixture pods (names and uids made unique)."""
    pods = []
    for index in range(count):
        pod = copy.deepcopy(templates[index % len(templates)])
        pod["metadata"]["name"] = f"{pod['metadata']['name']}-{index}"
        pod["metadata"]["uid"] = f"{pod['metadata']['uid'][:-8]}{index:08d}"
        pods.append(pod)
    return pods
