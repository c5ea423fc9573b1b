"""``docker system prune -f`` through the SDK: one prune per kind, each reported on its own.

Stopped containers, dangling images, unused networks and the build cache; volumes only when the
config asks. A container, image, network or volume carrying the keep label is left alone
(``label!=<key>``). A dry run lists what each prune would remove and removes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import docker.utils

from stackwatch.config import Config

log = logging.getLogger(__name__)

PRUNE_TIMEOUT = 600.0  # a build-cache prune on a busy host takes minutes
CONFLICT_RETRIES = 5
CONFLICT_DELAY = 2.0
ANONYMOUS_VOLUME_LABEL = "com.docker.volume.anonymous"
BUILTIN_NETWORKS = frozenset({"bridge", "host", "none", "ingress", "docker_gwbridge"})


@dataclass
class PruneResult:
    """What one prune removed (names where known) and the bytes Docker says it reclaimed."""

    kind: str
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def _space(result: dict[str, Any] | None) -> int:
    # an empty prune answers "SpaceReclaimed": null (and the lists null too)
    return int((result or {}).get("SpaceReclaimed") or 0)


def _with_conflict_retry(call: Callable[[], Any], kind: str, sleep: Callable[[float], None]) -> Any:
    """Run a prune; another prune already running answers 409, so wait and try again."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            return call()
        except docker.errors.APIError as exc:
            if exc.status_code != 409 or attempt == CONFLICT_RETRIES:
                raise
            log.info("%s prune: another prune is running, retrying", kind)
            sleep(CONFLICT_DELAY * (attempt + 1))
    raise AssertionError("unreachable")


class DockerPruner:
    """Prunes on one Docker engine; the client is injected (tests pass one for their daemon)."""

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        keep_label: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.api = client.api
        self.keep_label = keep_label
        self.sleep = sleep

    @classmethod
    def from_config(cls, config: Config) -> DockerPruner:
        client = docker.DockerClient(
            base_url=config.docker.host, version="auto", timeout=int(PRUNE_TIMEOUT)
        )
        return cls(client, keep_label=config.cleanup.docker.keep_label)

    def close(self) -> None:
        self.client.close()

    def _filters(self, **extra: Any) -> dict[str, Any]:
        filters: dict[str, Any] = dict(extra)
        if self.keep_label:
            filters["label!"] = [self.keep_label]
        return filters

    def _kept(self, labels: dict[str, str] | None) -> bool:
        return bool(self.keep_label) and self.keep_label in (labels or {})

    # --- what would go ---------------------------------------------------------------------

    def stopped_containers(self) -> dict[str, tuple[str, int]]:
        """Id -> (name, writable-layer bytes) of containers a prune would remove."""
        out = {}
        for item in self.api.containers(all=True, size=True):
            if item.get("State") == "running" or item.get("State") == "paused":
                continue
            if item.get("State") == "restarting" or self._kept(item.get("Labels")):
                continue
            name = (item.get("Names") or ["/" + item["Id"][:12]])[0].lstrip("/")
            out[item["Id"]] = (name, int(item.get("SizeRw") or 0))
        return out

    def dangling_images(self) -> dict[str, int]:
        out = {}
        for item in self.api.images(filters={"dangling": True}):
            if not self._kept(item.get("Labels")):
                out[item["Id"]] = int(item.get("Size") or 0)
        return out

    def unused_networks(self) -> list[str]:
        out = []
        for item in self.api.networks():
            if item.get("Name") in BUILTIN_NETWORKS or self._kept(item.get("Labels")):
                continue
            detail = self.api.inspect_network(item["Id"])
            if not detail.get("Containers"):
                out.append(str(item.get("Name")))
        return sorted(out)

    def reclaimable_build_cache(self) -> tuple[int, int]:
        """(entries, bytes) of build cache not in use."""
        usage = self.api.df()
        entries = [c for c in usage.get("BuildCache") or [] if not c.get("InUse")]
        return len(entries), sum(int(c.get("Size") or 0) for c in entries)

    def unused_volumes(self) -> list[str]:
        """Volumes no container uses; since API 1.42 a prune takes only anonymous ones."""
        usage = self.api.df()
        anonymous_only = docker.utils.version_gte(self.api.api_version, "1.42")
        out = []
        for volume in usage.get("Volumes") or []:
            labels = volume.get("Labels") or {}
            refs = (volume.get("UsageData") or {}).get("RefCount", 1)
            if refs != 0 or self._kept(labels):
                continue
            if anonymous_only and ANONYMOUS_VOLUME_LABEL not in labels:
                continue
            out.append(str(volume.get("Name")))
        return sorted(out)

    # --- prunes -----------------------------------------------------------------------------

    def containers(self, dry_run: bool) -> PruneResult:
        result = PruneResult("containers")
        candidates = self.stopped_containers()
        if dry_run:
            result.removed = sorted(name for name, _ in candidates.values())
            result.bytes_freed = sum(size for _, size in candidates.values())
            return result
        answer = _with_conflict_retry(
            lambda: self.api.prune_containers(filters=self._filters()), "container", self.sleep
        )
        deleted = (answer or {}).get("ContainersDeleted") or []
        result.removed = sorted(candidates.get(i, (i[:12], 0))[0] for i in deleted)
        result.bytes_freed = _space(answer)
        return result

    def images(self, dry_run: bool) -> PruneResult:
        result = PruneResult("dangling images")
        if dry_run:
            candidates = self.dangling_images()
            result.removed = sorted(i.removeprefix("sha256:")[:12] for i in candidates)
            result.bytes_freed = sum(candidates.values())
            return result
        answer = _with_conflict_retry(
            lambda: self.api.prune_images(filters=self._filters(dangling=True)),
            "image",
            self.sleep,
        )
        removed = []
        for entry in (answer or {}).get("ImagesDeleted") or []:
            if entry.get("Deleted"):
                removed.append(str(entry["Deleted"]).removeprefix("sha256:")[:12])
        result.removed = sorted(removed)
        result.bytes_freed = _space(answer)
        return result

    def networks(self, dry_run: bool) -> PruneResult:
        result = PruneResult("networks")
        if dry_run:
            result.removed = self.unused_networks()
            return result
        answer = _with_conflict_retry(
            lambda: self.api.prune_networks(filters=self._filters()), "network", self.sleep
        )
        result.removed = sorted((answer or {}).get("NetworksDeleted") or [])
        return result

    def build_cache(self, dry_run: bool) -> PruneResult:
        result = PruneResult("build cache")
        if dry_run:
            count, size = self.reclaimable_build_cache()
            result.removed = [f"{count} build cache entries"] if count else []
            result.bytes_freed = size
            return result
        answer = _with_conflict_retry(lambda: self.api.prune_builds(), "build cache", self.sleep)
        deleted = (answer or {}).get("CachesDeleted") or []
        result.removed = [f"{len(deleted)} build cache entries"] if deleted else []
        result.bytes_freed = _space(answer)
        return result

    def volumes(self, dry_run: bool) -> PruneResult:
        result = PruneResult("volumes")
        if dry_run:
            result.removed = self.unused_volumes()
            return result
        answer = _with_conflict_retry(
            lambda: self.api.prune_volumes(filters=self._filters()), "volume", self.sleep
        )
        result.removed = sorted((answer or {}).get("VolumesDeleted") or [])
        result.bytes_freed = _space(answer)
        return result
