"""The alert model that evaluation, the state store and notification share."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

PENDING = "pending"
FIRING = "firing"
RESOLVED = "resolved"
STATES = (PENDING, FIRING, RESOLVED)

BLIND_ALERT = "MonitoringBlind"


def fingerprint(group: str, labels: Mapping[str, str]) -> str:
    """A stable id for an alert instance: its group plus its full label set."""
    raw = json.dumps([group, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AlertState:
    """One alert instance as the store keeps it; times are Unix seconds."""

    fingerprint: str
    group: str
    alertname: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str
    value: float | None
    active_since: float | None
    fired_at: float | None = None
    resolved_at: float | None = None
    last_seen: float | None = None
    last_notified: float | None = None
    notified: bool = False
    silenced_by: int | None = None
    expr: str = ""
    #: the firing alert that inhibits this one now (``notify.inhibit``), computed each evaluation
    inhibited_by: str | None = None

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description", "")


@dataclass(frozen=True)
class BlindReason:
    """Why (part of) a group cannot be evaluated, as the labels of its meta alert."""

    labels: dict[str, str]
    summary: str
    description: str = ""
