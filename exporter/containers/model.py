"""Containers read from Engine API JSON (``GET /containers/json`` and ``/containers/{id}/json``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

HEALTH_STATES = ("none", "starting", "healthy", "unhealthy")
# the value of container_health_state for each health state
HEALTH_VALUES = {"healthy": 1.0, "starting": 0.0, "unhealthy": 0.0, "none": -1.0}


@dataclass(frozen=True)
class Inspected:
    """What only an inspect tells; cached per container while its State and Status hold."""

    image: str
    restart_count: int
    started_at: float | None
    health: str
    pid: int = 0  # the main process while running (its cgroup holds the usage), else 0


@dataclass(frozen=True)
class Container:
    """One container as this scrape sees it."""

    id: str
    name: str
    state: str
    labels: Mapping[str, str]
    inspected: Inspected


def parse_docker_time(text: str | None) -> float | None:
    """Docker's RFC 3339 timestamp (nanoseconds, ``Z``) in unixtime; None for the zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(text).timestamp()


def parse_inspect(data: Mapping[str, Any]) -> Inspected:
    """The cached part of ``GET /containers/{id}/json``."""
    state = data.get("State") or {}
    health = (state.get("Health") or {}).get("Status") or "none"
    if state.get("Status", "running" if state.get("Running") else "") not in ("running", "paused"):
        # Docker marks a container unhealthy when it stops (the check can no longer run) and
        # keeps that in its inspect; `docker ps` shows no health for it, and neither do we.
        health = "none"
    return Inspected(
        image=str((data.get("Config") or {}).get("Image") or data.get("Image") or ""),
        restart_count=int(data.get("RestartCount") or 0),
        started_at=parse_docker_time(state.get("StartedAt")),
        health=health if health in HEALTH_STATES else "none",
        pid=int(state.get("Pid") or 0),
    )


def container_name(entry: Mapping[str, Any]) -> str:
    """The primary name from a list entry (``/web`` -> ``web``)."""
    names = entry.get("Names") or []
    # Legacy links add names like /other/alias; the container's own name has no inner slash.
    own = [n for n in names if n.count("/") == 1] or names or [entry["Id"][:12]]
    return str(own[0]).lstrip("/")


def container_from_inspect(data: Mapping[str, Any]) -> Container:
    """A container from ``GET /containers/{id}/json`` alone (what an event's inspect gives)."""
    container_id = str(data["Id"])
    return Container(
        id=container_id,
        name=str(data.get("Name") or container_id[:12]).lstrip("/"),
        state=str((data.get("State") or {}).get("Status", "")),
        labels=(data.get("Config") or {}).get("Labels") or {},
        inspected=parse_inspect(data),
    )


def container_from_list(entry: Mapping[str, Any], inspected: Inspected) -> Container:
    """A container from its ``GET /containers/json`` entry and its (maybe cached) inspect."""
    return Container(
        id=str(entry["Id"]),
        name=container_name(entry),
        state=str(entry.get("State", "")),
        labels=entry.get("Labels") or {},
        inspected=inspected,
    )


def cache_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    """A list entry's State and Status: while both hold, its cached inspect is current."""
    return str(entry.get("State", "")), str(entry.get("Status", ""))
