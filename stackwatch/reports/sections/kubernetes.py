"""k3s: nodes, pods by namespace and phase, pods not ready, deployments short of replicas."""

from __future__ import annotations

from collections import defaultdict

from stackwatch.format import count
from stackwatch.prometheus import Sample
from stackwatch.reports.document import Section, Table
from stackwatch.reports.sections.gate import Context, SectionSpec, Unavailable

TITLE = "k3s"
PHASES = ("Running", "Pending", "Succeeded", "Failed", "Unknown")


def node_table(nodes: list[Sample]) -> tuple[Table, list[str]]:
    table = Table(["Node", "Ready"], caption="Nodes")
    bad = []
    for sample in sorted(nodes, key=lambda s: s.labels.get("node", "")):
        ready = sample.labels.get("status") == "true"
        table.add([sample.labels.get("node", "?"), sample.labels.get("status", "?")], bad=not ready)
        if not ready:
            bad.append(sample.labels.get("node", "?"))
    return table, bad


def phase_table(by_ns: dict[str, dict[str, float]]) -> Table:
    table = Table(
        ["Namespace", *PHASES],
        caption="Pods by namespace and phase",
        numeric=set(range(1, len(PHASES) + 1)),
    )
    for namespace in sorted(by_ns):
        counts = by_ns[namespace]
        table.add(
            [namespace, *(count(counts.get(p, 0)) for p in PHASES)],
            bad=counts.get("Failed", 0) > 0 or counts.get("Unknown", 0) > 0,
        )
    return table


def not_ready_table(not_ready: list[Sample], waiting: list[Sample]) -> Table:
    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sample in waiting:
        key = (sample.labels.get("namespace", "?"), sample.labels.get("pod", "?"))
        reasons[key].append(sample.labels.get("reason", "?"))
    table = Table(["Namespace", "Pod", "Waiting reason"], caption="Pods not ready", wrap={1})
    for sample in sorted(
        not_ready, key=lambda s: (s.labels.get("namespace", ""), s.labels.get("pod", ""))
    ):
        key = (sample.labels.get("namespace", "?"), sample.labels.get("pod", "?"))
        table.add([key[0], key[1], ", ".join(sorted(reasons.get(key, []))) or "—"], bad=True)
    return table


Deployment = tuple[str | None, str | None]


def short_table(desired: dict[Deployment, float], available: dict[Deployment, float]) -> Table:
    table = Table(
        ["Namespace", "Deployment", "Available", "Desired"],
        caption="Deployments short of replicas",
        numeric={2, 3},
        wrap={1},
    )
    for key in sorted(desired, key=lambda k: (k[0] or "", k[1] or "")):
        have = available.get(key, 0.0)
        if have < desired[key]:
            table.add([key[0] or "?", key[1] or "?", count(have), count(desired[key])], bad=True)
    return table


def build(ctx: Context) -> Section:
    prom = ctx.prom
    section = Section(TITLE)
    nodes = prom.query(
        'max by (node, status) (kube_node_status_condition{SEL,condition="Ready"}) == 1'
    )
    phases = prom.query("sum by (namespace, phase) (kube_pod_status_phase{SEL})")
    not_ready = prom.query(
        'max by (namespace, pod) (kube_pod_status_ready{SEL,condition="false"}) == 1'
        " unless on (namespace, pod)"
        ' max by (namespace, pod) (kube_pod_status_phase{SEL,phase="Succeeded"}) == 1'
    )
    waiting = prom.query(
        "max by (namespace, pod, reason) (kube_pod_container_status_waiting_reason{SEL}) == 1"
    )

    def by_deployment(expr: str) -> dict[Deployment, float]:
        return {
            (s.labels.get("namespace"), s.labels.get("deployment")): s.value
            for s in prom.query(expr)
        }

    desired = by_deployment("max by (namespace, deployment) (kube_deployment_spec_replicas{SEL})")
    available = by_deployment(
        "max by (namespace, deployment) (kube_deployment_status_replicas_available{SEL})"
    )
    if not (nodes or phases or desired):
        raise Unavailable("k3s: no cluster metrics in Prometheus yet")

    nodes_table, bad_nodes = node_table(nodes)
    by_ns: dict[str, dict[str, float]] = defaultdict(dict)
    for sample in phases:
        by_ns[sample.labels.get("namespace", "?")][sample.labels.get("phase", "?")] = sample.value
    pending = not_ready_table(not_ready, waiting)
    short = short_table(desired, available)
    total_pods = sum(sum(c.values()) for c in by_ns.values())
    section.lines.append(
        f"{len(nodes)} node(s), {len(bad_nodes)} not ready; {round(total_pods)} pod(s), "
        f"{len(not_ready)} not ready; {len(short.rows)} deployment(s) short of replicas."
    )
    if bad_nodes:
        ctx.attention.append(f"k3s node(s) not ready: {', '.join(bad_nodes)}")
    if not_ready:
        ctx.attention.append(f"{len(not_ready)} k3s pod(s) not ready")
    if short.rows:
        ctx.attention.append(f"{len(short.rows)} k3s deployment(s) short of replicas")
    section.tables = [nodes_table, phase_table(by_ns)]
    section.tables += [table for table in (pending, short) if table.rows]
    return section


SECTION = SectionSpec(
    TITLE, build, prometheus=True, collector="kubernetes", label="k3s", reads="the Kubernetes API"
)
