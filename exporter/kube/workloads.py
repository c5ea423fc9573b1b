"""Deployment, StatefulSet, DaemonSet and ReplicaSet families (kube-state-metrics' apps/v1)."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.kube.families import Builder, Object, Spec, boolean, meta, number, owner_labels

DEPLOYMENTS = (
    Spec("kube_deployment_spec_replicas", "Number of desired pods for a deployment."),
    Spec(
        "kube_deployment_spec_paused",
        "Whether the deployment is paused and will not be processed by the deployment controller.",
    ),
    Spec(
        "kube_deployment_metadata_generation",
        "Sequence number representing a specific generation of the desired state.",
    ),
    Spec("kube_deployment_status_replicas", "The number of replicas per deployment."),
    Spec(
        "kube_deployment_status_replicas_updated", "The number of updated replicas per deployment."
    ),
    Spec(
        "kube_deployment_status_replicas_available",
        "The number of available replicas per deployment.",
    ),
    Spec(
        "kube_deployment_status_replicas_unavailable",
        "The number of unavailable replicas per deployment.",
    ),
    Spec(
        "kube_deployment_status_observed_generation",
        "The generation observed by the deployment controller.",
    ),
)
STATEFULSETS = (
    Spec("kube_statefulset_replicas", "Number of desired pods for a StatefulSet."),
    Spec("kube_statefulset_status_replicas_ready", "The number of ready replicas per StatefulSet."),
    Spec(
        "kube_statefulset_status_current_revision",
        "Indicates the version of the StatefulSet used to generate Pods in the sequence [0,currentReplicas).",  # noqa: E501
    ),
    Spec(
        "kube_statefulset_status_update_revision",
        "Indicates the version of the StatefulSet used to generate Pods in the sequence [replicas-updatedReplicas,replicas)",  # noqa: E501
    ),
    Spec(
        "kube_statefulset_status_observed_generation",
        "The generation observed by the StatefulSet controller.",
    ),
    Spec(
        "kube_statefulset_metadata_generation",
        "Sequence number representing a specific generation of the desired state for the StatefulSet.",  # noqa: E501
    ),
)
DAEMONSETS = (
    Spec(
        "kube_daemonset_status_desired_number_scheduled",
        "The number of nodes that should be running the daemon pod.",
    ),
    Spec(
        "kube_daemonset_status_current_number_scheduled",
        "The number of nodes running at least one daemon pod and are supposed to.",
    ),
    Spec(
        "kube_daemonset_status_number_ready",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",  # noqa: E501
    ),
    Spec(
        "kube_daemonset_status_number_misscheduled",
        "The number of nodes running a daemon pod but are not supposed to.",
    ),
    Spec(
        "kube_daemonset_status_updated_number_scheduled",
        "The total number of nodes that are running updated daemon pod",
    ),
    Spec(
        "kube_daemonset_status_number_available",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available",  # noqa: E501
    ),
)
REPLICASETS = (
    Spec("kube_replicaset_spec_replicas", "Number of desired pods for a ReplicaSet."),
    Spec("kube_replicaset_status_ready_replicas", "The number of ready replicas per ReplicaSet."),
    Spec("kube_replicaset_owner", "Information about the ReplicaSet's owner."),
)


def _base(obj: Object, key: str) -> dict[str, str]:
    metadata = meta(obj)
    return {"namespace": str(metadata["namespace"]), key: str(metadata["name"])}


def parse_deployments(deployments: Iterable[Object], out: Builder) -> None:
    """Desired, current, updated, available replicas and generations; zero counts are omitted
    by the API."""
    for deployment in deployments:
        labels = _base(deployment, "deployment")
        spec = deployment.get("spec") or {}
        status = deployment.get("status") or {}
        replicas = spec.get("replicas")
        out.add("kube_deployment_spec_replicas", labels, float(1 if replicas is None else replicas))
        out.add("kube_deployment_spec_paused", labels, boolean(spec.get("paused")))
        out.add(
            "kube_deployment_metadata_generation",
            labels,
            number(meta(deployment).get("generation")),
        )
        for family, field in (
            ("kube_deployment_status_replicas", "replicas"),
            ("kube_deployment_status_replicas_updated", "updatedReplicas"),
            ("kube_deployment_status_replicas_available", "availableReplicas"),
            ("kube_deployment_status_replicas_unavailable", "unavailableReplicas"),
            ("kube_deployment_status_observed_generation", "observedGeneration"),
        ):
            out.add(family, labels, number(status.get(field)))


def parse_statefulsets(statefulsets: Iterable[Object], out: Builder) -> None:
    """Desired and ready replicas, the current and update revisions, generations."""
    for statefulset in statefulsets:
        labels = _base(statefulset, "statefulset")
        spec = statefulset.get("spec") or {}
        status = statefulset.get("status") or {}
        if spec.get("replicas") is not None:
            out.add("kube_statefulset_replicas", labels, float(spec["replicas"]))
        out.add(
            "kube_statefulset_status_replicas_ready", labels, number(status.get("readyReplicas"))
        )
        for family, field in (
            ("kube_statefulset_status_current_revision", "currentRevision"),
            ("kube_statefulset_status_update_revision", "updateRevision"),
        ):
            out.add(family, {**labels, "revision": str(status.get(field) or "")}, 1.0)
        out.add(
            "kube_statefulset_status_observed_generation",
            labels,
            number(status.get("observedGeneration")),
        )
        out.add(
            "kube_statefulset_metadata_generation",
            labels,
            number(meta(statefulset).get("generation")),
        )


def parse_daemonsets(daemonsets: Iterable[Object], out: Builder) -> None:
    """The scheduled, ready, misscheduled, updated and available node counts."""
    for daemonset in daemonsets:
        labels = _base(daemonset, "daemonset")
        status = daemonset.get("status") or {}
        for family, field in (
            ("kube_daemonset_status_desired_number_scheduled", "desiredNumberScheduled"),
            ("kube_daemonset_status_current_number_scheduled", "currentNumberScheduled"),
            ("kube_daemonset_status_number_ready", "numberReady"),
            ("kube_daemonset_status_number_misscheduled", "numberMisscheduled"),
            ("kube_daemonset_status_updated_number_scheduled", "updatedNumberScheduled"),
            ("kube_daemonset_status_number_available", "numberAvailable"),
        ):
            out.add(family, labels, number(status.get(field)))


def parse_replicasets(replicasets: Iterable[Object], out: Builder) -> None:
    """Desired and ready replicas, and the owner (the Deployment, or ``<none>``)."""
    for replicaset in replicasets:
        labels = _base(replicaset, "replicaset")
        spec = replicaset.get("spec") or {}
        status = replicaset.get("status") or {}
        if spec.get("replicas") is not None:
            out.add("kube_replicaset_spec_replicas", labels, float(spec["replicas"]))
        out.add(
            "kube_replicaset_status_ready_replicas", labels, number(status.get("readyReplicas"))
        )
        for owner in owner_labels(replicaset, "<none>"):
            out.add("kube_replicaset_owner", {**labels, **owner}, 1.0)
