"""Pod and container families (kube-state-metrics' ``pod.go``), labelled namespace, pod, uid."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.kube.families import (
    Builder,
    Object,
    Spec,
    boolean,
    meta,
    owner_labels,
    resource_values,
    timestamp,
)

RESOURCE = "pods"
POD_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
# kube-state-metrics' podStatusReasons, each one-hot for every pod
POD_STATUS_REASONS = ("Evicted", "NodeAffinity", "NodeLost", "Shutdown", "UnexpectedAdmissionError")

FAMILIES = (
    Spec("kube_pod_info", "Information about pod."),
    Spec("kube_pod_owner", "Information about the Pod's owner."),
    Spec("kube_pod_start_time", "Start time in unix timestamp for a pod."),
    Spec("kube_pod_status_phase", "The pods current phase."),
    Spec("kube_pod_status_ready", "Describes whether the pod is ready to serve requests."),
    Spec("kube_pod_status_reason", "The pod status reasons"),
    Spec(
        "kube_pod_container_status_restarts",
        "The number of container restarts per container.",
        "counter",
    ),
    Spec(
        "kube_pod_container_status_waiting_reason",
        "Describes the reason the container is currently in waiting state.",
    ),
    Spec(
        "kube_pod_container_status_terminated_reason",
        "Describes the reason the container is currently in terminated state.",
    ),
    Spec(
        "kube_pod_container_status_last_terminated_reason",
        "Describes the last reason the container was in terminated state.",
    ),
    Spec(
        "kube_pod_container_status_ready",
        "Describes whether the containers readiness check succeeded.",
    ),
    Spec(
        "kube_pod_container_status_running",
        "Describes whether the container is currently in running state.",
    ),
    Spec(
        "kube_pod_container_resource_requests",
        "The number of requested request resource by a container.",
    ),
    Spec(
        "kube_pod_container_resource_limits",
        "The number of requested limit resource by a container.",
    ),
)


def _controller(pod: Object) -> tuple[str, str]:
    for owner in meta(pod).get("ownerReferences") or []:
        if owner.get("controller") is True:
            return str(owner.get("kind") or "<none>"), str(owner.get("name") or "<none>")
    return "<none>", "<none>"


def _status_reasons(pod: Object) -> set[str]:
    # KSM counts the pod's reason, a condition's reason and a terminated container's reason
    status = pod.get("status") or {}
    reasons = {status.get("reason")}
    reasons.update(c.get("reason") for c in status.get("conditions") or [])
    reasons.update(
        ((cs.get("state") or {}).get("terminated") or {}).get("reason")
        for cs in status.get("containerStatuses") or []
    )
    return {str(r) for r in reasons if r}


def _containers(base: dict[str, str], pod: Object, out: Builder) -> None:
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        labels = {**base, "container": str(container["name"])}
        state = container.get("state") or {}
        out.add(
            "kube_pod_container_status_restarts_total",
            labels,
            float(container.get("restartCount") or 0),
        )
        for key, family in (
            ("waiting", "kube_pod_container_status_waiting_reason"),
            ("terminated", "kube_pod_container_status_terminated_reason"),
        ):
            if state.get(key) is not None:
                reason = str(state[key].get("reason") or "")
                out.add(family, {**labels, "reason": reason}, 1.0)
        last = (container.get("lastState") or {}).get("terminated")
        if last is not None:
            out.add(
                "kube_pod_container_status_last_terminated_reason",
                {**labels, "reason": str(last.get("reason") or "")},
                1.0,
            )
        out.add("kube_pod_container_status_ready", labels, boolean(container.get("ready")))
        out.add("kube_pod_container_status_running", labels, 1.0 if state.get("running") else 0.0)
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        for key, family in (
            ("requests", "kube_pod_container_resource_requests"),
            ("limits", "kube_pod_container_resource_limits"),
        ):
            for resource, unit, value in resource_values(resources.get(key) or {}):
                labels = {
                    **base,
                    "container": str(container["name"]),
                    "node": node,
                    "resource": resource,
                    "unit": unit,
                }
                out.add(family, labels, value)


def parse(pods: Iterable[Object], out: Builder) -> None:
    """Every pod family of one pod list."""
    for pod in pods:
        metadata = meta(pod)
        base = {
            "namespace": str(metadata["namespace"]),
            "pod": str(metadata["name"]),
            "uid": str(metadata.get("uid", "")),
        }
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        kind, name = _controller(pod)
        info = {
            "host_ip": str(status.get("hostIP") or ""),
            "pod_ip": str(status.get("podIP") or ""),
            "node": str(spec.get("nodeName") or ""),
            "created_by_kind": kind,
            "created_by_name": name,
            "priority_class": str(spec.get("priorityClassName") or ""),
            "host_network": "true" if spec.get("hostNetwork") is True else "false",
        }
        out.add("kube_pod_info", {**base, **info}, 1.0)
        for owner in owner_labels(pod, "<none>"):
            out.add("kube_pod_owner", {**base, **owner}, 1.0)
        if status.get("startTime"):
            out.add("kube_pod_start_time", base, timestamp(status["startTime"]))
        if status.get("phase"):
            out.one_hot("kube_pod_status_phase", base, "phase", POD_PHASES, status["phase"])
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Ready":
                out.condition("kube_pod_status_ready", base, condition.get("status"))
        reasons = _status_reasons(pod)
        for reason in POD_STATUS_REASONS:
            out.add("kube_pod_status_reason", {**base, "reason": reason}, float(reason in reasons))
        _containers(base, pod, out)
