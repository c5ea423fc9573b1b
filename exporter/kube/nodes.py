"""Node families (kube-state-metrics' ``node.go``), labelled node."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.kube.families import Builder, Object, Spec, boolean, meta, resource_values

RESOURCE = "nodes"
FAMILIES = (
    Spec("kube_node_info", "Information about a cluster node."),
    Spec("kube_node_spec_unschedulable", "Whether a node can schedule new pods."),
    Spec("kube_node_status_condition", "The condition of a cluster node."),
    Spec("kube_node_status_capacity", "The capacity for different resources of a node."),
    Spec(
        "kube_node_status_allocatable",
        "The allocatable for different resources of a node that are available for scheduling.",
    ),
)


def _internal_ip(status: Object) -> str:
    for address in status.get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address") or "")
    return ""


def parse(nodes: Iterable[Object], out: Builder) -> None:
    """Info, schedulability, one-hot conditions, capacity and allocatable of each node."""
    for node in nodes:
        base = {"node": str(meta(node)["name"])}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        info = status.get("nodeInfo") or {}
        out.add(
            "kube_node_info",
            {
                **base,
                "kernel_version": str(info.get("kernelVersion", "")),
                "os_image": str(info.get("osImage", "")),
                "container_runtime_version": str(info.get("containerRuntimeVersion", "")),
                "kubelet_version": str(info.get("kubeletVersion", "")),
                "kubeproxy_version": str(info.get("kubeProxyVersion", "")),
                "provider_id": str(spec.get("providerID", "")),
                "pod_cidr": str(spec.get("podCIDR", "")),
                "system_uuid": str(info.get("systemUUID", "")),
                "internal_ip": _internal_ip(status),
            },
            1.0,
        )
        out.add("kube_node_spec_unschedulable", base, boolean(spec.get("unschedulable")))
        for condition in status.get("conditions") or []:
            out.condition(
                "kube_node_status_condition",
                {**base, "condition": str(condition.get("type", ""))},
                condition.get("status"),
                key="status",
            )
        for key, family in (
            ("capacity", "kube_node_status_capacity"),
            ("allocatable", "kube_node_status_allocatable"),
        ):
            for resource, unit, value in resource_values(
                status.get(key) or {}, ("pods",), milli=True
            ):
                out.add(family, {**base, "resource": resource, "unit": unit}, value)
