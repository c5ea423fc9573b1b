"""The lock files: made from pyproject.toml, hashed, and what the image and `make` install."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.dockerfile import instructions, parse

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME_LOCK = REPO / "requirements" / "runtime.txt"
DEV_LOCK = REPO / "requirements" / "dev.txt"
REFRESH = "pyproject.toml and the lock disagree: run `make lock` and commit requirements/"


def entries(lock: Path) -> list[str]:
    """The lock's requirement entries, each with its continuation lines joined."""
    text = re.sub(r"\s*\\\n\s*", " ", lock.read_text())
    return [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]


def pins(lock: Path) -> dict[str, str]:
    found = {}
    for entry in entries(lock):
        name, _, version = entry.split()[0].partition("==")
        found[canonicalize_name(name)] = version
    return found


def runtime_requirements() -> list[Requirement]:
    build = PYPROJECT["build-system"]["requires"]
    return [Requirement(r) for r in [*PYPROJECT["project"]["dependencies"], *build]]


def dev_requirements() -> list[Requirement]:
    return [
        *runtime_requirements(),
        *(Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]),
    ]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [(RUNTIME_LOCK, runtime_requirements), (DEV_LOCK, dev_requirements)],
    ids=["runtime", "dev"],
)
def test_every_dependency_of_pyproject_is_locked_at_a_version_it_accepts(
    lock: Path, requirements: Callable[[], list[Requirement]]
) -> None:
    locked = pins(lock)
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in {lock.name}: {REFRESH}"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock.name} has {name}=={locked[name]}, pyproject.toml asks {requirement}: {REFRESH}"
        )


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=["runtime", "dev"])
def test_every_locked_package_is_exact_and_hashed(lock: Path) -> None:
    found = entries(lock)
    assert len(found) > 50
    for entry in found:
        assert re.match(r"^[A-Za-z0-9._-]+==[^ ;]+", entry), entry
        assert "--hash=sha256:" in entry, f"{entry.split()[0]} has no hash"


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=["runtime", "dev"])
def test_the_lock_says_what_made_it_and_for_which_platform(lock: Path) -> None:
    header = "".join(line for line in lock.read_text().splitlines(True) if line.startswith("#"))
    assert "make lock" in header
    assert "Python 3.11" in header
    assert "Linux x86_64" in header


def test_the_dev_lock_runs_the_image_versions() -> None:
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    assert {name: dev.get(name) for name in runtime} == runtime
    assert set(dev) - set(runtime)  # and the dev tools besides


def test_prefect_yaml_names_the_locked_prefect() -> None:
    declared = yaml.safe_load((REPO / "prefect.yaml").read_text())["prefect-version"]
    assert pins(RUNTIME_LOCK)["prefect"] == str(declared)


def pip_installs(commands: list[str]) -> list[list[str]]:
    return [c.split()[c.split().index("install") + 1 :] for c in commands if "pip install" in c]


def test_the_image_installs_the_runtime_lock_then_the_project_without_dependencies() -> None:
    found = instructions(parse((REPO / "Dockerfile").read_text()))
    runs = [i["value"] for i in found if i["instruction"] == "RUN"]
    installs = pip_installs([part for run in runs for part in run.split("&&")])
    locked, project = installs[0], installs[1]
    assert "--require-hashes" in locked
    assert locked[locked.index("-r") + 1] == "requirements/runtime.txt"
    assert "--no-deps" in project
    assert project[-1] == "."
    assert len(installs) == 2
    copies = [i["value"].split() for i in found if i["instruction"] == "COPY"]
    assert ["requirements/runtime.txt", "requirements/"] in copies


def test_make_installs_the_dev_lock_then_the_project_without_dependencies(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    dry_run = subprocess.run(
        ["make", "-n", "-B", f"VENV={venv}", f"{venv}/.stackwatch-installed"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    installs = pip_installs(dry_run)
    locked, project = installs[-2], installs[-1]
    assert "--require-hashes" in locked
    assert locked[locked.index("-r") + 1] == "requirements/dev.txt"
    assert project[-2:] == ["-e", "."]
    assert "--no-deps" in project
    assert not any("'.[dev]'" in line or ".[dev]" in line for line in dry_run)


def test_make_lock_refreshes_both_locks_from_pyproject(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    dry_run = subprocess.run(
        ["make", "-n", f"VENV={venv}", "-o", f"{venv}/.stackwatch-installed", "lock"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    ).stdout
    compiles = [line for line in dry_run.splitlines() if "uv pip compile" in line]
    assert len(compiles) == 2
    for line in compiles:
        assert "--generate-hashes" in line
        assert "pyproject.toml" in line
        assert "--python-version 3.11" in line
    assert "-o requirements/runtime.txt" in compiles[0]
    assert "--extra dev" in compiles[1]
    assert "requirements/dev.txt" in dry_run
