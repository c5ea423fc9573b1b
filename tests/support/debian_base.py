"""A Debian root made by ``debootstrap``, standing in for the Dockerfile's base image.

No image registry is reachable here, but a Debian mirror is: ``debian_base_tar`` bootstraps a
minimal root with Python (what ``python:3.11-slim-bookworm`` provides: ``python``, ``venv``,
CA certificates) once and keeps it as a tar in a cache folder outside the checkout, named after
the suite, mirror and package list, so a change to any of them builds a new one. A lock file
beside it makes two runs at once wait for each other instead of building twice.
``import_base`` loads that tar into a test dockerd under the tag the Dockerfile starts from.

The cache is ``$STACKWATCH_TEST_CACHE``, else ``$XDG_CACHE_HOME/stackwatch-test``, else
``/var/cache/stackwatch-test`` as root (``~/.cache/stackwatch-test`` otherwise); deleting the
folder clears it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.dockerd import DockerDaemon
from tests.support.procs import require_binary

log = logging.getLogger(__name__)

SUITE = "bookworm"
MIRROR = os.environ.get("STACKWATCH_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# python:3.11-slim-bookworm's parts the Dockerfile uses: python, python -m venv, pip over HTTPS
PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
RECIPE = 1  # bump when the way the root is made changes, so old tars are not reused
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)


def cache_dir() -> Path:
    """Where the tars are kept between runs (see the module docstring)."""
    explicit = os.environ.get("STACKWATCH_TEST_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "stackwatch-test"
    if os.geteuid() == 0:
        return Path("/var/cache/stackwatch-test")
    return Path.home() / ".cache" / "stackwatch-test"


def cache_key(suite: str, packages: Sequence[str], mirror: str = MIRROR) -> str:
    """The file name of a root: readable suite, then a digest of everything that shapes it."""
    recipe = {"suite": suite, "mirror": mirror, "packages": sorted(packages), "recipe": RECIPE}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    return f"debian-{suite}-{digest}"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def debian_base_tar(
    suite: str = SUITE, packages: Sequence[str] = PACKAGES, mirror: str = MIRROR
) -> Path:
    """The cached root tar for ``suite`` with ``packages``, bootstrapped first if missing."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key = cache_key(suite, packages, mirror)
    tar = folder / f"{key}.tar"
    with locked(folder / f"{key}.lock"):
        if tar.exists():
            log.info("Debian %s root: cached at %s", suite, tar)
            return tar
        debootstrap = require_binary("debootstrap", "debootstrap")
        started = time.monotonic()
        log.info("Debian %s root: debootstrap from %s into %s", suite, mirror, folder)
        work = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=folder))
        try:
            root = work / "root"
            result = subprocess.run(
                [
                    debootstrap,
                    "--variant=minbase",
                    f"--include={','.join(packages)}",
                    suite,
                    str(root),
                    mirror,
                ],
                capture_output=True,
                text=True,
                timeout=1200,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"debootstrap {suite} failed ({result.returncode}):\n{result.stdout[-3000:]}"
                    f"\n{result.stderr[-3000:]}"
                )
            for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (root / leftover).glob("*"):
                    if path.is_file():
                        path.unlink()
            partial = work / "root.tar"
            subprocess.run(
                ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."],
                check=True,
                capture_output=True,
                timeout=600,
            )
            partial.replace(tar)  # whole or absent: a run killed midway leaves no tar
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("Debian %s root: built in %.0f s", suite, time.monotonic() - started)
        return tar


def dockerfile_base_image(dockerfile: Path) -> str:
    """The image the Dockerfile's first stage starts from, its ARG defaults filled in."""
    from tests.support.dockerfile import parse

    images: list[str] = parse(dockerfile.read_text()).parent_images
    return images[0]


def import_base(daemon: DockerDaemon, image: str, tar: Path | None = None) -> str:
    """``docker import`` the Debian root into ``daemon`` tagged ``image`` (e.g. python:3.11-…).

    Builds run with the host's network, so they go through whatever TLS proxy the host trusts:
    the image gets the host's CA bundle, with pip and requests pointed at it (pip otherwise
    trusts only its own copy of certifi). The cached root itself stays as Debian made it.
    """
    path = tar if tar is not None else debian_base_tar()
    repository, tag = image.rsplit(":", 1)
    bootstrapped = f"{tag}-debootstrap"
    daemon.api.import_image_from_file(
        str(path), repository=repository, tag=bootstrapped, changes=list(IMAGE_CHANGES)
    )
    if not HOST_CA_BUNDLE.is_file():
        daemon.api.tag(f"{repository}:{bootstrapped}", repository, tag)
        return image
    dockerfile = (
        f"FROM {repository}:{bootstrapped}\n"
        f"COPY ca-certificates.crt {HOST_CA_BUNDLE}\n"
        f"ENV PIP_CERT={HOST_CA_BUNDLE} REQUESTS_CA_BUNDLE={HOST_CA_BUNDLE} "
        f"SSL_CERT_FILE={HOST_CA_BUNDLE}\n"
    ).encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, data in (("Dockerfile", dockerfile), ("ca-certificates.crt", None)):
            if data is None:
                archive.add(str(HOST_CA_BUNDLE), arcname=name)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    context.seek(0)
    for chunk in daemon.api.build(
        fileobj=context, custom_context=True, tag=image, rm=True, pull=False, decode=True
    ):
        if "error" in chunk:
            raise RuntimeError(f"adding the host's CA bundle to {image}: {chunk['error']}")
    return image
