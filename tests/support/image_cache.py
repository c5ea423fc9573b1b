"""Built images kept between runs, as ``docker save`` tars beside the Debian root.

A test dockerd starts empty, so every run would rebuild the project image and the stand-ins.
``cached_images`` loads them from the cache when the inputs of the build (its context files,
the base root) are the same as when they were saved, and else builds and saves them; one tar
per kind is kept, the older ones are removed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from docker.utils.build import exclude_paths

from tests.support.debian_base import cache_dir, locked
from tests.support.dockerd import DockerDaemon
from tests.support.dockerfile import dockerignore_patterns

log = logging.getLogger(__name__)

PROJECT_CACHE = "stackwatch-image"  # the project image of a checkout, as stackwatch:local


def context_digest(context: Path, *extra: str) -> str:
    """A digest of the files a build of ``context`` sends (.dockerignore applied) and ``extra``."""
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part.encode() + b"\0")
    patterns = dockerignore_patterns(context)
    for name in sorted(exclude_paths(str(context), patterns)):
        path = context / name
        if path.is_file() and not path.is_symlink():
            digest.update(name.encode() + b"\0" + oct(path.stat().st_mode & 0o777).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _tar(kind: str, digest: str) -> Path:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{kind}-{digest}.tar"


def _save(daemon: DockerDaemon, tar: Path, kind: str, names: list[str]) -> None:
    partial = tar.with_name(f".{tar.name}.partial")
    daemon.cli("save", "--output", str(partial), *names, timeout=600)
    partial.replace(tar)
    for older in tar.parent.glob(f"{kind}-*.tar"):
        if older != tar:
            older.unlink(missing_ok=True)


def cached_images(
    daemon: DockerDaemon,
    kind: str,
    digest: str,
    images: Iterable[str],
    build: Callable[[], None],
) -> bool:
    """Load ``images`` saved under (``kind``, ``digest``), else ``build()`` and save them.
    True when they came from the cache."""
    names = list(images)
    tar = _tar(kind, digest)
    with locked(tar.parent / f"{kind}.lock"):
        if tar.exists():
            log.info("%s: loading %s", kind, tar)
            daemon.cli("load", "--quiet", "--input", str(tar), timeout=600)
            return True
        build()
        _save(daemon, tar, kind, names)
        return False


def save_images(daemon: DockerDaemon, kind: str, digest: str, images: Iterable[str]) -> None:
    """Keep ``images``, just built, for a later ``cached_images`` of the same inputs."""
    tar = _tar(kind, digest)
    with locked(tar.parent / f"{kind}.lock"):
        _save(daemon, tar, kind, list(images))
