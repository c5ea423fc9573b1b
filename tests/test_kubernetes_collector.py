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
import dataclasses
import json
import logging
import shutil
import subprocess
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
from exporter.kube.kinds import KINDS
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


def one_hot(
    name: str, labels: dict[str, str], key: str, values: tuple[str, ...], on: str
) -> Series:
    return {
        (name, tuple(sorted({**labels, key: value}.items())), 1.0 if value == on else 0.0)
        for value in values
    }


def series(name: str, labels: dict[str, str], value: float) -> Series:
    return {(name, tuple(sorted(labels.items())), value)}


def expected_cluster() -> Series:
    """Every series the fixtures must produce, written out from the JSON by hand."""
    tf = ("true", "false", "unknown")
    phases = ("Pending", "Succeeded", "Failed", "Running", "Unknown")
    out: Series = set()
    for node, statuses in (
        ("k3s-server", ("false", "false", "false", "true")),
        ("k3s-agent-1", ("unknown", "unknown", "unknown", "false")),
    ):
        for condition, status in zip(
            ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"), statuses, strict=True
        ):
            labels = {"node": node, "condition": condition}
            out |= one_hot("kube_node_status_condition", labels, "status", tf, status)
    coredns = {
        "namespace": "kube-system",
        "pod": "coredns-7b98449c4-x2k8p",
        "uid": "0c4b1f2e-6a7d-4f1c-9e3a-2b8d5c6e7f01",
    }
    api = {
        "namespace": "apps",
        "pod": "api-6d8f7b9c5d-7xk2m",
        "uid": "3e5a7c9b-1d2f-4a6e-8b0c-5d7f9a1b3c5e",
    }
    worker = {
        "namespace": "apps",
        "pod": "worker-5c7d9f8b6-q9w4e",
        "uid": "7b9d1f3a-5c7e-4b9d-8f1a-3c5e7b9d1f3a",
    }
    backup = {
        "namespace": "batch",
        "pod": "backup-28874160-h5j7k",
        "uid": "9c1e3a5b-7d9f-4c1e-8a3b-5d7f9c1e3a5b",
    }
    for pod, phase, ready in (
        (coredns, "Running", "true"),
        (api, "Running", "false"),
        (worker, "Pending", "false"),
        (backup, "Succeeded", "false"),
    ):
        out |= one_hot("kube_pod_status_phase", pod, "phase", phases, phase)
        out |= one_hot("kube_pod_status_ready", pod, "condition", tf, ready)
    restarts = "kube_pod_container_status_restarts_total"
    waiting = "kube_pod_container_status_waiting_reason"
    out |= series(restarts, {**coredns, "container": "coredns"}, 1)
    out |= series(restarts, {**api, "container": "api"}, 14)
    out |= series(restarts, {**api, "container": "log-shipper"}, 0)
    out |= series(restarts, {**worker, "container": "worker"}, 0)
    out |= series(restarts, {**backup, "container": "backup"}, 0)
    out |= series(waiting, {**api, "container": "api", "reason": "CrashLoopBackOff"}, 1)
    out |= series(waiting, {**worker, "container": "worker", "reason": "ImagePullBackOff"}, 1)
    for namespace, deployment, desired, available, unavailable in (
        ("kube-system", "coredns", 1, 1, 0),
        ("apps", "api", 2, 0, 2),
        ("apps", "worker", 1, 0, 1),
    ):
        labels = {"namespace": namespace, "deployment": deployment}
        out |= series("kube_deployment_spec_replicas", labels, desired)
        out |= series("kube_deployment_status_replicas_available", labels, available)
        out |= series("kube_deployment_status_replicas_unavailable", labels, unavailable)
    return out


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


def test_exact_kube_state_metrics_series(collector: KubernetesCollector) -> None:
    """A NotReady node, a CrashLoopBackOff pod, an ImagePullBackOff pod, 0 of 2 available."""
    registry = build_registry({"kubernetes": collector})
    wait_for(lambda: success(registry) == 1.0, 10, "the first cluster snapshot")
    assert expected_cluster() <= kube_series(registry)
    text = "\n".join(f"{f.name} {f.type}" for f in registry.collect())
    assert "kube_pod_container_status_restarts counter" in text


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


def test_shipped_cluster_role_is_read_only_and_covers_every_call(
    collector: KubernetesCollector, api_server: FakeApiServer
) -> None:
    """deploy/k8s/rbac.yaml grants exactly what the collector asks the API server for."""
    registry = build_registry({"kubernetes": collector})
    wait_for(lambda: success(registry) == 1.0, 10, "the first cluster snapshot")
    manifest = Path(__file__).parent.parent / "deploy" / "k8s" / "rbac.yaml"
    documents = list(yaml.safe_load_all(manifest.read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    binding = next(d for d in documents if d["kind"] == "ClusterRoleBinding")
    granted = set()
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    called = set()
    for request in api_server.requests:
        parts = urlsplit(request).path.strip("/").split("/")
        group = "" if parts[0] == "api" else parts[1]
        called.add((group, parts[-1]))
    assert called == {(kind.group, kind.resource) for kind in KINDS}
    assert called == granted
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_exposition_is_what_kube_state_metrics_exposes(collector: KubernetesCollector) -> None:
    """Every kind's families, HELP and TYPE lines and samples, equal to the golden file (written
    from kube-state-metrics' stores for these objects); ``promtool check metrics`` finds nothing."""
    registry = build_registry({"kubernetes": collector})
    wait_for(lambda: success(registry) == 1.0, 10, "the first cluster snapshot")
    text = kube_exposition(registry)
    assert text == GOLDEN.read_text()
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian's prometheus package) is needed"
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_one_forbidden_kind_fails_alone_and_goes_stale(
    api_server: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A role without ``jobs`` (403) costs only the Job families: the others are served and the
    collector succeeds; a kind that worked before keeps its last data, flagged, until max_age."""
    config = make_config(write_kubeconfig(tmp_path, api_server.url), refresh_interval="1h")
    collector = KubernetesCollector.from_config(config)
    registry = build_registry({"kubernetes": collector})
    api_server.forbidden = {"/apis/batch/v1/jobs"}
    with caplog.at_level(logging.WARNING, logger="exporter.collectors.kubernetes"):
        collector.refresh()
        collector.refresh()
    assert success(registry) == 1.0
    jobs, cronjobs = {"resource": "jobs"}, {"resource": "cronjobs"}
    assert registry.get_sample_value("stackwatch_kubernetes_list_success", jobs) == 0.0
    assert registry.get_sample_value("stackwatch_kubernetes_list_success", cronjobs) == 1.0
    assert registry.get_sample_value("stackwatch_kubernetes_list_age_seconds", jobs) is None
    names = {s[0] for s in kube_series(registry)}
    assert not any(name.startswith("kube_job_") for name in names)
    assert "kube_cronjob_status_active" in names
    assert "kube_pod_status_phase" in names
    assert [r.getMessage() for r in caplog.records] == [
        "listing jobs failed: HTTP 403 Forbidden: jobs is forbidden: User "
        '"system:serviceaccount:stackwatch:stackwatch" cannot list resource "jobs" at the '
        "cluster scope"
    ]

    api_server.forbidden = set()
    collector.refresh()
    failed = {"namespace": "batch", "job_name": "report-28874220", "condition": "true"}
    assert registry.get_sample_value("kube_job_failed", failed) == 1.0
    api_server.forbidden = {"/apis/batch/v1/jobs"}
    collector.refresh()
    # the last Job list is still served, its age and the failed list exported beside it
    assert registry.get_sample_value("kube_job_failed", failed) == 1.0
    assert registry.get_sample_value("stackwatch_kubernetes_list_success", jobs) == 0.0
    age = registry.get_sample_value("stackwatch_kubernetes_list_age_seconds", jobs)
    assert age is not None
    collector._snapshots["jobs"] = dataclasses.replace(
        collector._snapshots["jobs"], taken_at=time.time() - collector.max_age - 1
    )
    assert registry.get_sample_value("kube_job_failed", failed) is None
    assert registry.get_sample_value("kube_pod_status_phase", {**POD, "phase": "Running"}) == 1.0

    # a failure of every kind is the collector's own, logged by the scrape guard, not per kind
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exporter.collectors.kubernetes"):
        api_server.status = 500
        collector.refresh()
        assert success(registry) == 0.0
        api_server.status = 200
        api_server.forbidden = set()
        collector.refresh()
    by_logger = [(r.name, r.getMessage()) for r in caplog.records]
    assert by_logger == [
        (
            "exporter.registry",
            "collector kubernetes failed: KubernetesError: refreshing the cluster snapshot "
            "failed: HTTP 500 Internal Server Error: etcdserver: leader changed",
        ),
        ("exporter.collectors.kubernetes", "listing jobs recovered"),
    ]
    assert success(registry) == 1.0
    collector.close()


POD = {
    "namespace": "kube-system",
    "pod": "coredns-7b98449c4-x2k8p",
    "uid": "0c4b1f2e-6a7d-4f1c-9e3a-2b8d5c6e7f01",
}
