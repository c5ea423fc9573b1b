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
    api: str  # the kubernetes.client API class
    method: str  # its list-for-all-namespaces method
    parse: Callable[[Iterable[Object], Builder], None]
    specs: tuple[Spec, ...]

    def families(self, items: Iterable[Object]) -> tuple[Family, ...]:
        out = Builder()
        self.parse(items, out)
        return out.families(self.specs)


KINDS = (
    Kind("nodes", "", "CoreV1Api", "list_node", nodes.parse, nodes.FAMILIES),
    Kind("pods", "", "CoreV1Api", "list_pod_for_all_namespaces", pods.parse, pods.FAMILIES),
    Kind(
        "namespaces",
        "",
        "CoreV1Api",
        "list_namespace",
        namespaces.parse_namespaces,
        namespaces.NAMESPACES,
    ),
    Kind(
        "resourcequotas",
        "",
        "CoreV1Api",
        "list_resource_quota_for_all_namespaces",
        namespaces.parse_quotas,
        namespaces.QUOTAS,
    ),
    Kind(
        "persistentvolumeclaims",
        "",
        "CoreV1Api",
        "list_persistent_volume_claim_for_all_namespaces",
        storage.parse_pvcs,
        storage.PVCS,
    ),
    Kind(
        "persistentvolumes",
        "",
        "CoreV1Api",
        "list_persistent_volume",
        storage.parse_pvs,
        storage.PVS,
    ),
    Kind(
        "deployments",
        "apps",
        "AppsV1Api",
        "list_deployment_for_all_namespaces",
        workloads.parse_deployments,
        workloads.DEPLOYMENTS,
    ),
    Kind(
        "statefulsets",
        "apps",
        "AppsV1Api",
        "list_stateful_set_for_all_namespaces",
        workloads.parse_statefulsets,
        workloads.STATEFULSETS,
    ),
    Kind(
        "daemonsets",
        "apps",
        "AppsV1Api",
        "list_daemon_set_for_all_namespaces",
        workloads.parse_daemonsets,
        workloads.DAEMONSETS,
    ),
    Kind(
        "replicasets",
        "apps",
        "AppsV1Api",
        "list_replica_set_for_all_namespaces",
        workloads.parse_replicasets,
        workloads.REPLICASETS,
    ),
    Kind("jobs", "batch", "BatchV1Api", "list_job_for_all_namespaces", jobs.parse_jobs, jobs.JOBS),
    Kind(
        "cronjobs",
        "batch",
        "BatchV1Api",
        "list_cron_job_for_all_namespaces",
        jobs.parse_cronjobs,
        jobs.CRONJOBS,
    ),
    Kind(
        "horizontalpodautoscalers",
        "autoscaling",
        "AutoscalingV2Api",
        "list_horizontal_pod_autoscaler_for_all_namespaces",
        autoscaling.parse_hpas,
        autoscaling.HPAS,
    ),
)
