"""Where this installation's own files are: its packages, checked for shadowing, and its data."""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import os
import tomllib
from importlib.metadata import (
    Distribution,
    PackageNotFoundError,
    PackagePath,
    distribution,
    distributions,
)
from pathlib import Path

from stackwatch.errors import StackwatchError

DISTRIBUTION = "stackwatch"
# Besides stackwatch the wheel installs these, whose names are common (other PyPI distributions,
# a Prefect project's own flows/ folder): the commands check at start that they are ours.
AREA_PACKAGES = ("exporter", "alerter", "flows")
# The folder holding the stackwatch package: a source checkout, or site-packages.
ROOT = Path(__file__).resolve().parent.parent
# prefect.yaml's project folder; the image and compose put the project's flows there on purpose.
HOME_ENV = "STACKWATCH_HOME"
# Where the wheel's data files (rules/, prometheus.yml) land, under the installation prefix.
DATA_DIR = "share/stackwatch"

ISOLATION_HINT = (
    "Install stackwatch in an environment of its own: a virtualenv "
    "(`python -m venv ~/.venvs/stackwatch`, then `~/.venvs/stackwatch/bin/pip install "
    "<stackwatch source>`), `pipx install <stackwatch source>`, or the container image "
    "(`docker build -t stackwatch .` in the source folder)."
)


class InstallError(StackwatchError):
    """A package stackwatch imports is not its own, or a file it ships is missing."""


@functools.cache
def checkout() -> Path | None:
    """The source checkout stackwatch runs from (an editable install too), else None.

    A ``pyproject.toml`` beside the package counts only if it is stackwatch's: installed, that
    folder is site-packages, where another wheel may have left one of its own.
    """
    try:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return ROOT if project.get("project", {}).get("name") == DISTRIBUTION else None


@functools.cache
def own_record() -> tuple[Distribution, dict[str, PackagePath]] | None:
    """The installed distribution and its recorded files (by path relative to site-packages)
    when it is the running stackwatch; None from a checkout or an editable install."""
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        return None
    files = {file.as_posix(): file for file in dist.files or ()}
    init = files.get("stackwatch/__init__.py")
    own = Path(__file__).resolve().with_name("__init__.py")
    return (dist, files) if init is not None and _located(dist, init) == own else None


def _located(dist: Distribution, recorded: str | PackagePath) -> Path:
    return Path(str(dist.locate_file(recorded))).resolve()


def data_path(name: str) -> Path:
    """A file or folder shipped with stackwatch (``rules``, ``prometheus.yml``).

    From a checkout, the checkout's own; installed, the copy the wheel put under the prefix.
    """
    root = checkout()
    if root is not None:
        return root / name
    record = own_record()
    if record is not None:
        dist, files = record
        for recorded in files:
            # relative to site-packages: ../../../share/stackwatch/rules/host.yml
            head, sep, inside = recorded.partition(f"{DATA_DIR}/")
            if sep and inside.split("/", 1)[0] == name:
                return _located(dist, f"{head}{sep}{name}")
    raise InstallError(f"stackwatch's {name} is missing from the installation; reinstall it")


def check_packages() -> None:
    """Refuse to run when ``exporter``, ``alerter`` or ``flows`` is not stackwatch's own."""
    for name in AREA_PACKAGES:
        problem = _problem(name)
        if problem:
            raise InstallError(f"{problem}\n{ISOLATION_HINT}")


def _problem(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    expected = ROOT / name
    if spec is None:
        return f"stackwatch's `{name}` package is missing (expected at {expected})"
    locations = list(spec.submodule_search_locations or [])
    found = Path(locations[0] if locations else spec.origin or name).resolve()
    allowed = {expected.resolve()}
    if name == "flows" and os.environ.get(HOME_ENV):
        allowed.add((Path(os.environ[HOME_ENV]) / name).resolve())
    if found not in allowed:
        return (
            f"`import {name}` finds {found}, which is not stackwatch's `{name}` package "
            f"(expected {expected}): another package or a folder on the Python path shadows it."
        )
    changed = _overwritten(name, found)
    if changed:
        owner = _foreign_owner(name, changed)
        by = f"distribution {owner} installed its own `{name}`" if owner else "it was changed"
        return f"{changed} is not stackwatch's: {by} over it."
    return None


def _overwritten(name: str, found: Path) -> Path | None:
    """The package's ``__init__.py`` when it is not the one stackwatch installed there."""
    record = own_record()
    recorded = record[1].get(f"{name}/__init__.py") if record else None
    if record is None or recorded is None or recorded.hash is None:
        return None
    located = _located(record[0], recorded)
    if located.parent != found:
        return None
    try:
        digest = hashlib.new(recorded.hash.mode, located.read_bytes()).digest()
    except (OSError, ValueError):
        return located
    unchanged = base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == recorded.hash.value
    return None if unchanged else located


def _foreign_owner(name: str, path: Path) -> str | None:
    """The other installed distribution that lists ``path`` among its files."""
    for dist in distributions():
        if dist.metadata["Name"] == DISTRIBUTION:
            continue
        for file in dist.files or ():
            if file.parts[:1] == (name,) and _located(dist, file) == path:
                return f"{dist.metadata['Name']} {dist.version}"
    return None
