"""PersistentVolumeClaim and PersistentVolume phases (kube-state-metrics' one-hot families)."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.kube.families import Builder, Object, Spec, meta

PVC_PHASES = ("Lost", "Bound", "Pending")
PV_PHASES = ("Pending", "Available", "Bound", "Released", "Failed")

PVCS = (
    Spec(
        "kube_persistentvolumeclaim_status_phase",
        "The phase the persistent volume claim is currently in.",
    ),
)
PVS = (
    Spec(
        "kube_persistentvolume_status_phase",
        "The phase indicates if a volume is available, bound to a claim, or released by a claim.",
    ),
)


def parse_pvcs(claims: Iterable[Object], out: Builder) -> None:
    """Each claim's phase one-hot over Lost, Bound, Pending; no series without a phase."""
    for claim in claims:
        metadata = meta(claim)
        labels = {
            "namespace": str(metadata["namespace"]),
            "persistentvolumeclaim": str(metadata["name"]),
        }
        phase = (claim.get("status") or {}).get("phase")
        if phase:
            out.one_hot(
                "kube_persistentvolumeclaim_status_phase", labels, "phase", PVC_PHASES, phase
            )


def parse_pvs(volumes: Iterable[Object], out: Builder) -> None:
    """Each volume's phase one-hot over Pending, Available, Bound, Released, Failed."""
    for volume in volumes:
        labels = {"persistentvolume": str(meta(volume)["name"])}
        phase = (volume.get("status") or {}).get("phase")
        if phase:
            out.one_hot("kube_persistentvolume_status_phase", labels, "phase", PV_PHASES, phase)
