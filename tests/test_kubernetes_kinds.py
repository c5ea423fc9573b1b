"""The Kubernetes collector's families for every kind, and the role that lets it read them.

No real API server can run here: the local server of ``test_kubernetes_collector`` answers with
the realistic list JSON of tests/fixtures/k8s/ to the real client, through a kubeconfig.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from exporter.collectors.kubernetes import KubernetesCollector
from exporter.kube.kinds import KINDS
from exporter.registry import build_registry
from tests.support.procs import wait_for
from tests.test_kubernetes_collector import (
    GOLDEN,
    FakeApiServer,
    Series,
    kube_exposition,
    kube_series,
    make_config,
    success,
    write_kubeconfig,
)


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


def test_exact_kube_state_metrics_series(collector: KubernetesCollector) -> None:
    """A NotReady node, a CrashLoopBackOff pod, an ImagePullBackOff pod, 0 of 2 available."""
    registry = build_registry({"kubernetes": collector})
    wait_for(lambda: success(registry) == 1.0, 10, "the first cluster snapshot")
    assert expected_cluster() <= kube_series(registry)
    text = "\n".join(f"{f.name} {f.type}" for f in registry.collect())
    assert "kube_pod_container_status_restarts counter" in text


def test_shipped_cluster_role_is_read_only_and_covers_every_call(
    collector: KubernetesCollector, api_server: FakeApiServer
) -> None:
    """deploy/k8s/rbac.yaml grants exactly what the collector asks the API server for: a list
    of each kind read (no get, no watch, no other resource)."""
    registry = build_registry({"kubernetes": collector})
    wait_for(lambda: success(registry) == 1.0, 10, "the first cluster snapshot")
    manifest = Path(__file__).parent.parent / "deploy" / "k8s" / "rbac.yaml"
    documents = list(yaml.safe_load_all(manifest.read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    binding = next(d for d in documents if d["kind"] == "ClusterRoleBinding")
    granted = set()
    for rule in role["rules"]:
        assert rule["verbs"] == ["list"]
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    called = set()
    for request in api_server.requests:
        url = urlsplit(request)
        assert "watch" not in url.query  # a plain list, never a watch
        parts = url.path.strip("/").split("/")
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
