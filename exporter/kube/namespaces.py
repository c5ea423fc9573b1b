"""Namespace phases and ResourceQuota hard limits and usage (kube-state-metrics' names)."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.kube.families import Builder, Object, Spec, meta, quota_value

NAMESPACE_PHASES = ("Active", "Terminating")

NAMESPACES = (Spec("kube_namespace_status_phase", "kubernetes namespace status phase."),)
QUOTAS = (Spec("kube_resourcequota", "Information about resource quota."),)


def parse_namespaces(namespaces: Iterable[Object], out: Builder) -> None:
    """Each namespace's phase one-hot over Active and Terminating."""
    for namespace in namespaces:
        labels = {"namespace": str(meta(namespace)["name"])}
        phase = (namespace.get("status") or {}).get("phase")
        if phase:
            out.one_hot("kube_namespace_status_phase", labels, "phase", NAMESPACE_PHASES, phase)


def parse_quotas(quotas: Iterable[Object], out: Builder) -> None:
    """``type="hard"`` and ``type="used"`` per resource, CPU in cores, memory in bytes."""
    for quota in quotas:
        metadata = meta(quota)
        labels = {"namespace": str(metadata["namespace"]), "resourcequota": str(metadata["name"])}
        status = quota.get("status") or {}
        for kind in ("hard", "used"):
            for resource, value in (status.get(kind) or {}).items():
                out.add(
                    "kube_resourcequota",
                    {**labels, "resource": str(resource), "type": kind},
                    quota_value(value),
                )
