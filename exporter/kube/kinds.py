"""What the collector lists: each kind's API group, list call, parser and families, one place."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from exporter.kube import autoscaling, jobs, namespaces, nodes, pods, storage, workloads
from exporter.kube.families import Builder, Family, Object, Spec


@dataclass(frozen=True)
class Kind:
    """One resource read with one paginated list call; its families fail and go stale alone."""

    resource: str  # the plural the ClusterRole grants, e.g. "statefulsets"
    group: str  # the API group, "" for the core group
    version: str  # the API version, e.g. "v1"; the list path is /api(s)/GROUP/VERSION/RESOURCE
    parse: Callable[[Iterable[Object], Builder], None]
    specs: tuple[Spec, ...]

    def families(self, items: Iterable[Object]) -> tuple[Family, ...]:
        out = Builder()
        self.parse(items, out)
        return out.families(self.specs)


KINDS = (
    Kind("nodes", "", "v1", nodes.parse, nodes.FAMILIES),
    Kind("pods", "", "v1", pods.parse, pods.FAMILIES),
    Kind(
        "namespaces",
        "",
        "v1",
        namespaces.parse_namespaces,
        namespaces.NAMESPACES,
    ),
    Kind(
        "resourcequotas",
        "",
        "v1",
        namespaces.parse_quotas,
        namespaces.QUOTAS,
    ),
    Kind(
        "persistentvolumeclaims",
        "",
        "v1",
        storage.parse_pvcs,
        storage.PVCS,
    ),
    Kind(
        "persistentvolumes",
        "",
        "v1",
        storage.parse_pvs,
        storage.PVS,
    ),
    Kind(
        "deployments",
        "apps",
        "v1",
        workloads.parse_deployments,
        workloads.DEPLOYMENTS,
    ),
    Kind(
        "statefulsets",
        "apps",
        "v1",
        workloads.parse_statefulsets,
        workloads.STATEFULSETS,
    ),
    Kind(
        "daemonsets",
        "apps",
        "v1",
        workloads.parse_daemonsets,
        workloads.DAEMONSETS,
    ),
    Kind(
        "replicasets",
        "apps",
        "v1",
        workloads.parse_replicasets,
        workloads.REPLICASETS,
    ),
    Kind("jobs", "batch", "v1", jobs.parse_jobs, jobs.JOBS),
    Kind(
        "cronjobs",
        "batch",
        "v1",
        jobs.parse_cronjobs,
        jobs.CRONJOBS,
    ),
    Kind(
        "horizontalpodautoscalers",
        "autoscaling",
        "v2",
        autoscaling.parse_hpas,
        autoscaling.HPAS,
    ),
)
