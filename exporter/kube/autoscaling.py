"""HorizontalPodAutoscaler families (kube-state-metrics' ``horizontalpodautoscaler.go``)."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.kube.families import Builder, Object, Spec, meta, number

HPAS = (
    Spec(
        "kube_horizontalpodautoscaler_spec_min_replicas",
        "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
    ),
    Spec(
        "kube_horizontalpodautoscaler_spec_max_replicas",
        "Upper limit for the number of pods that can be set by the autoscaler; cannot be "
        "smaller than MinReplicas.",
    ),
    Spec(
        "kube_horizontalpodautoscaler_status_current_replicas",
        "Current number of replicas of pods managed by this autoscaler.",
    ),
    Spec(
        "kube_horizontalpodautoscaler_status_desired_replicas",
        "Desired number of replicas of pods managed by this autoscaler.",
    ),
)


def parse_hpas(hpas: Iterable[Object], out: Builder) -> None:
    """Min and max replicas of the spec, current and desired replicas of the status."""
    for hpa in hpas:
        metadata = meta(hpa)
        labels = {
            "namespace": str(metadata["namespace"]),
            "horizontalpodautoscaler": str(metadata["name"]),
        }
        spec = hpa.get("spec") or {}
        status = hpa.get("status") or {}
        if spec.get("minReplicas") is not None:
            out.add(
                "kube_horizontalpodautoscaler_spec_min_replicas", labels, float(spec["minReplicas"])
            )
        out.add(
            "kube_horizontalpodautoscaler_spec_max_replicas",
            labels,
            number(spec.get("maxReplicas")),
        )
        out.add(
            "kube_horizontalpodautoscaler_status_current_replicas",
            labels,
            number(status.get("currentReplicas")),
        )
        out.add(
            "kube_horizontalpodautoscaler_status_desired_replicas",
            labels,
            number(status.get("desiredReplicas")),
        )
