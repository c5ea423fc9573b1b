"""The family builder and the value conventions every kube-state-metrics module shares."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

CONDITION_STATUSES = ("true", "false", "unknown")
Labels = dict[str, str]
Object = Mapping[str, Any]


@dataclass(frozen=True)
class Spec:
    """A family's name, help text and type, as kube-state-metrics declares it."""

    name: str
    documentation: str
    type: str = "gauge"


@dataclass(frozen=True)
class Family:
    """One metric family's precomputed samples; each scrape wraps them in a fresh Metric."""

    name: str
    documentation: str
    type: str
    samples: tuple[Sample, ...]

    def metric(self) -> Metric:
        metric = Metric(self.name, self.documentation, self.type)
        metric.samples = list(self.samples)
        return metric


class Builder:
    """Collects samples per family while walking the API objects."""

    def __init__(self) -> None:
        self.samples: dict[str, list[Sample]] = {}

    def add(self, name: str, labels: Labels, value: float) -> None:
        samples = self.samples.get(name)
        if samples is None:
            samples = self.samples[name] = []
        samples.append(Sample(name, labels, value))

    def one_hot(self, name: str, labels: Labels, key: str, values: Iterable[str], on: str) -> None:
        for value in values:
            self.add(name, {**labels, key: value}, 1.0 if value == on else 0.0)

    def condition(self, name: str, labels: Labels, status: object, key: str = "condition") -> None:
        """A condition's status one-hot over true/false/unknown, as KSM's addConditionMetrics."""
        self.one_hot(name, labels, key, CONDITION_STATUSES, condition_status(status))

    def families(self, specs: Iterable[Spec]) -> tuple[Family, ...]:
        out = []
        for spec in specs:
            sample_name = f"{spec.name}_total" if spec.type == "counter" else spec.name
            samples = tuple(self.samples.get(sample_name, ()))
            out.append(Family(spec.name, spec.documentation, spec.type, samples))
        return tuple(out)


def condition_status(value: object) -> str:
    status = str(value or "").lower()
    return status if status in CONDITION_STATUSES else "unknown"


def meta(obj: Object) -> Mapping[str, Any]:
    metadata: Mapping[str, Any] = obj["metadata"]
    return metadata


def number(value: object) -> float:
    """An integer field the API omits when zero."""
    return float(value or 0)  # type: ignore[arg-type]


def boolean(value: object) -> float:
    return 1.0 if value is True else 0.0


def timestamp(value: str) -> float:
    """An RFC 3339 time as whole Unix seconds, as Go's ``Time.Unix()``."""
    return float(math.floor(datetime.fromisoformat(value).timestamp()))


@functools.lru_cache(maxsize=1024)
def quantity(text: object) -> Decimal:
    """A Kubernetes quantity (``100m``, ``70Mi``); the same few strings recur on every pod."""
    from kubernetes.utils import parse_quantity

    parsed: Decimal = parse_quantity(text)  # type: ignore[no-untyped-call]
    return parsed


def cores(text: object) -> float:
    """``MilliValue() / 1000``: a quantity in cores, rounded up to the millicore."""
    return math.ceil(quantity(text) * 1000) / 1000


def whole(text: object) -> float:
    """``Value()``: a quantity rounded up to an integer (bytes, counts)."""
    return float(math.ceil(quantity(text)))


def quota_value(text: object) -> float:
    """KSM's quota conversion: milli-precision unless the value is too large for it."""
    value = quantity(text)
    if value > 2**63 // 1000:
        return float(math.ceil(value))
    return math.ceil(value * 1000) / 1000


def sanitize(name: str) -> str:
    """KSM's ``sanitizeLabelName``: ``ephemeral-storage`` becomes ``ephemeral_storage``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def resource_values(
    resources: Mapping[str, Any], integer: tuple[str, ...] = (), milli: bool = False
) -> Iterable[tuple[str, str, float]]:
    """(resource, unit, value) for a resource list, with KSM's units: CPU in cores, memory and
    storage in bytes, extended resources (``vendor/name``) as integers, others skipped. Values
    are ``Value()`` except CPU's, or all ``MilliValue() / 1000`` with ``milli`` (KSM's nodes)."""
    for name, value in (resources or {}).items():
        amount = cores if milli else whole
        if name == "cpu":
            yield sanitize(name), "core", cores(value)
        elif name in ("memory", "storage", "ephemeral-storage") or name.startswith(
            ("hugepages-", "attachable-volumes-")
        ):
            yield sanitize(name), "byte", amount(value)
        elif name in integer or ("/" in name and not name.startswith("kubernetes.io/")):
            yield sanitize(name), "integer", amount(value)


def owner_labels(obj: Object, none: str) -> list[Labels]:
    """kube_*_owner's label sets: one per owner reference, or one of ``none`` values."""
    owners = meta(obj).get("ownerReferences") or []
    if not owners:
        return [{"owner_kind": none, "owner_name": none, "owner_is_controller": none}]
    return [
        {
            "owner_kind": str(owner.get("kind", "")),
            "owner_name": str(owner.get("name", "")),
            "owner_is_controller": "true" if owner.get("controller") is True else "false",
        }
        for owner in owners
    ]
