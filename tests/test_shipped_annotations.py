"""Every shipped rule's summary and description, rendered with a realistic value, read as a
person would say it; and a real Prometheus renders the same templates to the same text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from alerter.rules import Rule, load_rules
from alerter.templating import render
from tests.support.procs import wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within

RULES = Path(__file__).resolve().parent.parent / "rules"
HOST = {"instance": "web-1:9810", "job": "stackwatch"}


@dataclass(frozen=True)
class Case:
    value: float
    summary: str
    description: str
    labels: Mapping[str, str] = field(default_factory=dict)


FS = {**HOST, "mountpoint": "/var", "device": "/dev/sda1", "fstype": "ext4"}
POD = {"namespace": "apps", "pod": "api-7d9"}

CASES: dict[str, Case] = {
    # threshold-alert-check
    "HighCpuUsage": Case(
        0.904561,
        "CPU usage on web-1:9810 is 90.46%",
        "Average CPU usage over 5 minutes has been above 80 % for 5 minutes.",
        HOST,
    ),
    "HighMemoryUsage": Case(
        0.8712345,
        "Memory usage on web-1:9810 is 87.12%",
        "Less than 15 % of memory has been available for 5 minutes.",
        HOST,
    ),
    "DiskAlmostFull": Case(
        0.93421,
        "Filesystem /var on web-1:9810 is 93.42% full",
        "Device /dev/sda1 (ext4) has less than 10 % free space.",
        FS,
    ),
    "FilesystemReadOnly": Case(
        1,
        "Filesystem /var on web-1:9810 is read-only",
        "Device /dev/sda1 (ext4) was remounted read-only, often after I/O errors.",
        FS,
    ),
    "NetworkInterfaceErrors": Case(
        0.0234,
        "Interface eth0 on web-1:9810 loses 2.34% of its packets",
        "More than 1 % of the packets received or sent have been errors or drops for 10 "
        "minutes: check the cable, the driver or the queue sizes.",
        {**HOST, "device": "eth0"},
    ),
    "DiskIoSaturated": Case(
        0.97312,
        "Disk sda on web-1:9810 is busy 97.31% of the time",
        "The device has been doing I/O more than 90 % of the time for 15 minutes; requests "
        "queue up behind it.",
        {**HOST, "device": "sda"},
    ),
    "FilesystemFillingUp": Case(
        -1.2e9,
        "Filesystem /var on web-1:9810 will be full within 24 hours",
        "At the rate of the last 6 hours device /dev/sda1 (ext4), now less than 40 % free, "
        "runs out of space within a day.",
        FS,
    ),
    "ClockNotSynchronised": Case(
        0,
        "The clock of web-1:9810 is not synchronised",
        "The kernel reports no time synchronisation (NTP, chrony or systemd-timesyncd) for 10 "
        "minutes; timestamps, TLS and schedules drift.",
        HOST,
    ),
    "ClockSkew": Case(
        0.0734,
        "The clock of web-1:9810 is off by 73.4ms",
        "The offset from the reference clock has been above 50 ms for 10 minutes.",
        HOST,
    ),
    "FileDescriptorsNearLimit": Case(
        0.93125,
        "File handles on web-1:9810 are 93.12% of the limit",
        "More than 90 % of fs.file-max has been allocated for 5 minutes; opening files and "
        "sockets will fail at the limit.",
        HOST,
    ),
    "OomKill": Case(
        2.0009,
        "The kernel killed processes for lack of memory on web-1:9810",
        "The OOM killer ended about 2 process(es) in the last 15 minutes; the kernel log "
        "(dmesg) says which.",
        HOST,
    ),
    "MemoryPressureStall": Case(
        0.15234,
        "Processes on web-1:9810 wait for memory 15.23% of the time",
        "Tasks have been stalled on memory (reclaim, swap-in, refaults) more than 10 % of the "
        "time for 15 minutes.",
        HOST,
    ),
    # docker-restart-monitor: increase() extrapolates, the count reads whole
    "ContainerRestarting": Case(
        8.788,
        "Container flaky restarted 9 times in the last hour",
        "Image flaky:1.0. More than 3 restarts per hour usually means a crash loop.",
        {**HOST, "name": "flaky", "image": "flaky:1.0"},
    ),
    "ContainerUnhealthy": Case(
        1,
        "Container web is unhealthy",
        "Its Docker health check has been failing for at least 2 minutes.",
        {**HOST, "name": "web", "status": "unhealthy"},
    ),
    # services-health-check
    "ServiceDown": Case(
        0,
        "Service grafana is down",
        "Probing http://127.0.0.1:3000/api/health has failed for 2 minutes.",
        {"service": "grafana", "url": "http://127.0.0.1:3000/api/health"},
    ),
    "TlsCertificateExpiringSoon": Case(
        1000000.25,
        "TLS certificate of grafana expires in 11d 13h 46m 40s",
        "The certificate served at https://grafana.example.org/ must be renewed within 14 days.",
        {"service": "grafana", "url": "https://grafana.example.org/"},
    ),
    # stackwatch-watchdog
    "StackwatchChecksStale": Case(
        1920.5,
        "Checks of services-health-check stopped: last run 32m 0s ago",
        "No evaluation for more than 3 times its schedule's interval. The Prefect server, its "
        "worker or the flow's schedule may be down or paused.",
        {**HOST, "group": "services-health-check"},
    ),
    "StackwatchOutboxStuck": Case(
        2160,
        "A mail has waited 36m 0s in the stackwatch outbox",
        "The SMTP server refuses or does not answer; see `stackwatch alerts` and the alerter's "
        "log.",
        HOST,
    ),
    # system-health-check
    "StackwatchExporterDown": Case(
        0,
        "Prometheus cannot scrape the stackwatch exporter at web-1:9810",
        "Without it no host, service, Docker or k3s alert can fire or resolve.",
        HOST,
    ),
    "StackwatchExporterMissing": Case(
        1,
        "Prometheus has no scrape target for job stackwatch",
        "Check the scrape configuration of Prometheus.",
        {"job": "stackwatch"},
    ),
    "StackwatchCollectorFailing": Case(
        0,
        "The docker collector of the stackwatch exporter is failing",
        "Its metrics are missing; see the exporter's log for the error.",
        {**HOST, "collector": "docker"},
    ),
    # k8s-health-check
    "KubeNodeNotReady": Case(
        0,
        "Node k3s-1 is not Ready",
        "The node's Ready condition has not been true for 5 minutes.",
        {"node": "k3s-1"},
    ),
    "KubePodCrashLooping": Case(
        1,
        "Container api of pod apps/api-7d9 is in CrashLoopBackOff",
        "It keeps crashing and Kubernetes is backing off restarts.",
        {**POD, "container": "api"},
    ),
    "KubePodImagePullBackOff": Case(
        1,
        "Pod apps/api-7d9 cannot pull the image of api (ImagePullBackOff)",
        "Check the image name and tag and the registry credentials.",
        {**POD, "container": "api", "reason": "ImagePullBackOff"},
    ),
    "KubePodStuckPending": Case(
        1,
        "Pod apps/api-7d9 has been Pending for 15 minutes",
        "It is not scheduled or its containers cannot start (resources, volumes, node selectors).",
        POD,
    ),
    "KubePodFailed": Case(
        1,
        "Pod apps/api-7d9 has failed",
        "All its containers terminated and at least one failed.",
        POD,
    ),
    "KubeDeploymentReplicasMismatch": Case(
        3,
        "Deployment apps/api has fewer available replicas than desired",
        "3 replicas are desired; fewer have been available for 10 minutes.",
        {"namespace": "apps", "deployment": "api"},
    ),
    "KubeJobFailed": Case(
        1,
        "Job batch/report-1 failed",
        "Its Failed condition is true (backoff limit or deadline exceeded); delete the Job to "
        "clear this alert.",
        {"namespace": "batch", "job_name": "report-1"},
    ),
    "KubeStatefulSetNotRolledOut": Case(
        1,
        "StatefulSet apps/postgres is not fully rolled out",
        "For 15 minutes its pods have not all been ready on the update revision.",
        {"namespace": "apps", "statefulset": "postgres"},
    ),
    "KubeDaemonSetNotRolledOut": Case(
        1,
        "DaemonSet logging/fluent-bit is not fully rolled out",
        "For 15 minutes not every node it should run on has an updated, available pod (or one "
        "runs where it should not).",
        {"namespace": "logging", "daemonset": "fluent-bit"},
    ),
    "KubePersistentVolumeClaimPending": Case(
        1,
        "PersistentVolumeClaim apps/data-postgres-1 is Pending",
        "No volume has been bound to it for 5 minutes: check its storage class and the "
        "provisioner.",
        {"namespace": "apps", "persistentvolumeclaim": "data-postgres-1"},
    ),
    "KubeHpaMaxedOut": Case(
        4,
        "HPA apps/api has run at its maximum of 4 replicas for 15 minutes",
        "The autoscaler cannot add pods: raise maxReplicas or give the workload more capacity.",
        {"namespace": "apps", "horizontalpodautoscaler": "api"},
    ),
    "KubernetesListFailing": Case(
        0,
        "stackwatch cannot list jobs from the Kubernetes API",
        "The other kinds are still read. Alerts on jobs see its last list for a few minutes, "
        "then no data: check the ClusterRole (deploy/k8s/rbac.yaml) and the exporter's log.",
        {**HOST, "resource": "jobs"},
    ),
}

# Values at the edges of each template function, beyond the shipped rules' realistic ones.
EDGE_TEMPLATES = {
    "percentage": "{{ $value | humanizePercentage }}",
    "count": '{{ $value | printf "%.0f" }}',
    "bytes": "{{ $value | humanize1024 }}",
    "duration": "{{ $value | humanizeDuration }}",
    "si": "{{ $value | humanize }}",
    "plain": "{{ $value }}",
}
EDGE_VALUES = (
    0.0, 1.0, -1.0, 0.5, 2.5, 0.0001234, 0.999999, 1023.0, 1024.0, 1536.0, 1048576.0,
    5.5e9, 1.2e15, 59.5, 60.0, 3599.9, 86400.0, 90061.0, -61.0, 0.25, 0.000002, 123456.0,
    1234567.0, -2500.0,
)  # fmt: skip


def shipped_rules() -> list[Rule]:
    ruleset = load_rules([str(RULES / "*.yml")])
    assert not ruleset.problems
    return [rule for group in ruleset.groups for rule in group.rules]


def test_every_shipped_rule_has_an_expected_text() -> None:
    assert sorted(rule.alert for rule in shipped_rules()) == sorted(CASES)


@pytest.mark.parametrize("rule", shipped_rules(), ids=lambda rule: rule.alert)
def test_shipped_annotation_reads_as_said(rule: Rule) -> None:
    case = CASES[rule.alert]
    rendered = {
        name: render(text, case.labels, case.value) for name, text in rule.annotations.items()
    }
    assert rendered == {"summary": case.summary, "description": case.description}


# --- the same templates in a real Prometheus -------------------------------------------------


def _quoted(text: str) -> str:
    return json.dumps(text)  # a PromQL string literal: double quotes, backslash escapes


def _constant(value: float, labels: Mapping[str, str]) -> str:
    """A PromQL expression with exactly this value and these labels."""
    expr = f"vector({value!r})"
    for name, text in sorted(labels.items()):
        assert "$" not in text  # a replacement string would expand it
        expr = f'label_replace({expr}, "{name}", {_quoted(text)}, "", "")'
    return expr


def _parity_rules() -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Rules whose annotations are the shipped ones (and the edge templates), each on a
    constant; and what stackwatch renders for each."""
    rules: list[dict[str, Any]] = []
    expected: dict[str, dict[str, str]] = {}
    for rule in shipped_rules():
        case = CASES[rule.alert]
        rules.append(
            {
                "alert": rule.alert,
                "expr": _constant(case.value, case.labels),
                "annotations": dict(rule.annotations),
            }
        )
        expected[rule.alert] = {
            name: render(text, case.labels, case.value) for name, text in rule.annotations.items()
        }
    for number, value in enumerate(EDGE_VALUES):
        name = f"Edge{number}"
        rules.append({"alert": name, "expr": _constant(value, {}), "annotations": EDGE_TEMPLATES})
        expected[name] = {key: render(text, {}, value) for key, text in EDGE_TEMPLATES.items()}
    return {"groups": [{"name": "parity", "rules": rules}]}, expected


@pytest.mark.integration
def test_a_real_prometheus_renders_the_same_text(tmp_path: Path) -> None:
    document, expected = _parity_rules()
    rule_file = tmp_path / "parity.yml"
    rule_file.write_text(yaml.safe_dump(document, sort_keys=False))
    server = PrometheusServer(tmp_path, targets=[], rule_files=[str(rule_file)]).start()
    try:

        def alerts() -> dict[str, dict[str, str]] | None:
            response = requests.get(f"{server.url}/api/v1/alerts", timeout=5)
            response.raise_for_status()
            found = {
                a["labels"]["alertname"]: a["annotations"]
                for a in response.json()["data"]["alerts"]
            }
            return found if len(found) == len(expected) else None

        rendered = wait_for(alerts, within(30), "Prometheus to fire every parity rule")
    finally:
        server.stop()
    assert rendered == expected
