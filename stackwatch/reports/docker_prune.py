"""What ``docker system prune -f`` would remove, chosen once and then removed item by item.

Stopped containers, dangling images, unused networks and the build cache; volumes only when the
config asks. Each kind is chosen by one function, which both the dry run and the real run use:
the dry run lists its choice, the real run removes exactly that choice, one item at a time and
never forced, so the engine still refuses anything that came into use meanwhile (skipped, not
an error). Images and volumes are chosen as they will be once the chosen containers are gone,
so the dry run counts what the containers' removal frees too. Anything carrying the keep label
is left alone. The build cache, which has no per-entry removal, goes by one prune.
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
NOT_STOPPED = frozenset({"running", "paused", "restarting", "removing"})


@dataclass
class PruneResult:
    """What one kind's removal removed (names where known) and the bytes it freed."""

    kind: str
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Item:
    """One thing chosen for removal: the id the engine removes it by, its name, its size."""

    ref: str
    name: str
    size: int = 0


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
        # containers removed, or in a dry run chosen: they no longer hold images or volumes
        self.gone: set[str] = set()

    @classmethod
    def from_config(cls, config: Config) -> DockerPruner:
        client = docker.DockerClient(
            base_url=config.docker.host, version="auto", timeout=int(PRUNE_TIMEOUT)
        )
        return cls(client, keep_label=config.cleanup.docker.keep_label)

    def close(self) -> None:
        self.client.close()

    def _kept(self, labels: dict[str, str] | None) -> bool:
        return bool(self.keep_label) and self.keep_label in (labels or {})

    def _staying(self) -> list[dict[str, Any]]:
        """The containers that stay: all but those removed or chosen."""
        return [c for c in self.api.containers(all=True) if c["Id"] not in self.gone]

    # --- what goes: one choice per kind, for the dry run and the real run alike -------------

    def stopped_containers(self) -> list[_Item]:
        out = []
        for item in self.api.containers(all=True, size=True):
            if item.get("State") in NOT_STOPPED or self._kept(item.get("Labels")):
                continue
            name = (item.get("Names") or ["/" + item["Id"][:12]])[0].lstrip("/")
            out.append(_Item(item["Id"], name, int(item.get("SizeRw") or 0)))
        return sorted(out, key=lambda i: i.name)

    def dangling_images(self) -> list[_Item]:
        """Untagged top-level images that no staying container uses."""
        used = {c.get("ImageID") for c in self._staying()}
        out = []
        for item in self.api.images(filters={"dangling": True}):
            if item["Id"] in used or self._kept(item.get("Labels")):
                continue
            short = str(item["Id"]).removeprefix("sha256:")[:12]
            out.append(_Item(item["Id"], short, int(item.get("Size") or 0)))
        return sorted(out, key=lambda i: i.name)

    def unused_networks(self) -> list[_Item]:
        out = []
        for item in self.api.networks():
            if item.get("Name") in BUILTIN_NETWORKS or self._kept(item.get("Labels")):
                continue
            detail = self.api.inspect_network(item["Id"])
            if not detail.get("Containers"):
                out.append(_Item(item["Id"], str(item.get("Name"))))
        return sorted(out, key=lambda i: i.name)

    def unused_volumes(self) -> list[_Item]:
        """Volumes no staying container mounts; since API 1.42 a prune takes only anonymous ones."""
        used = {
            m.get("Name")
            for c in self._staying()
            for m in c.get("Mounts") or []
            if m.get("Type") == "volume"
        }
        anonymous_only = docker.utils.version_gte(self.api.api_version, "1.42")
        out = []
        for volume in self.api.df().get("Volumes") or []:
            labels = volume.get("Labels") or {}
            if volume.get("Name") in used or self._kept(labels):
                continue
            if anonymous_only and ANONYMOUS_VOLUME_LABEL not in labels:
                continue
            size = max(0, int((volume.get("UsageData") or {}).get("Size") or 0))
            out.append(_Item(str(volume["Name"]), str(volume["Name"]), size))
        return sorted(out, key=lambda i: i.name)

    def reclaimable_build_cache(self) -> tuple[int, int]:
        """(entries, bytes) of build cache that a prune without ``--all`` removes."""
        usage = self.api.df()
        entries = [
            c for c in usage.get("BuildCache") or [] if not c.get("InUse") and not c.get("Shared")
        ]
        return len(entries), sum(int(c.get("Size") or 0) for c in entries)

    # --- removal ----------------------------------------------------------------------------

    def _remove(
        self, kind: str, chosen: list[_Item], dry_run: bool, remove: Callable[[str], object]
    ) -> tuple[PruneResult, list[_Item]]:
        """List the choice, or remove it item by item; what the engine refuses now stays."""
        result = PruneResult(kind)
        taken = []
        for item in chosen:
            if not dry_run:
                try:
                    remove(item.ref)
                except docker.errors.NotFound:
                    continue  # removed meanwhile by someone else
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:
                        raise
                    result.notes.append(f"{item.name} kept: it came into use ({exc.explanation})")
                    continue
            taken.append(item)
        result.removed = [item.name for item in taken]
        result.bytes_freed = sum(item.size for item in taken)
        return result, taken

    def containers(self, dry_run: bool) -> PruneResult:
        chosen = self.stopped_containers()
        result, taken = self._remove("containers", chosen, dry_run, self.api.remove_container)
        self.gone |= {item.ref for item in taken}
        return result

    def images(self, dry_run: bool) -> PruneResult:
        return self._remove("dangling images", self.dangling_images(), dry_run, self._rmi)[0]

    def _rmi(self, ref: str) -> None:
        self.api.remove_image(ref, force=False, noprune=False)

    def networks(self, dry_run: bool) -> PruneResult:
        return self._remove("networks", self.unused_networks(), dry_run, self.api.remove_network)[0]

    def volumes(self, dry_run: bool) -> PruneResult:
        return self._remove("volumes", self.unused_volumes(), dry_run, self.api.remove_volume)[0]

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
