"""At start, ``stackwatch`` and the launcher refuse an ``exporter``, ``alerter`` or ``flows``
that is not stackwatch's own, naming the foreign package and how to install in isolation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stackwatch.install import HOME_ENV, ISOLATION_HINT, check_packages
from tests.support.procs import run_python

REPO = Path(__file__).resolve().parent.parent


def run(
    args: list[str], *, path: list[Path], cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    return run_python(args, path=path, cwd=cwd, timeout=60, **env)


def fake_package(folder: Path, name: str) -> Path:
    package = folder / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'"""Somebody else\'s {name}."""\n')
    return package


def shadow_message(name: str, found: Path) -> str:
    return (
        f"stackwatch: `import {name}` finds {found}, which is not stackwatch's `{name}` package "
        f"(expected {REPO / name}): another package or a folder on the Python path shadows it.\n"
        f"{ISOLATION_HINT}\n"
    )


def test_the_checkout_passes_the_check(tmp_path: Path) -> None:
    check_packages()
    result = run(["-m", "stackwatch", "flows", "list"], path=[REPO], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "system-health-check" in result.stdout


def test_a_foreign_exporter_first_on_the_path_stops_the_cli(tmp_path: Path) -> None:
    foreign = fake_package(tmp_path / "elsewhere", "exporter")
    result = run(["-m", "stackwatch", "flows", "list"], path=[foreign.parent, REPO], cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == shadow_message("exporter", foreign)
    for way in ("virtualenv", "pipx install", "container image"):
        assert way in result.stderr


def test_a_prefect_projects_own_flows_folder_is_named(tmp_path: Path) -> None:
    """`python -m` puts the working folder first: a project's flows/ would be imported."""
    project = tmp_path / "project"
    foreign = fake_package(project, "flows")
    result = run(["-m", "stackwatch", "config", "check"], path=[REPO], cwd=project)
    assert result.returncode == 1
    assert result.stderr == shadow_message("flows", foreign)


def test_the_launcher_checks_before_anything_starts(tmp_path: Path) -> None:
    foreign = fake_package(tmp_path / "elsewhere", "alerter")
    state = tmp_path / "state"
    result = run(
        ["-m", "flows.launcher", "--state-dir", str(state)],
        path=[foreign.parent, REPO],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr == shadow_message("alerter", foreign)
    assert not state.exists()


@pytest.mark.parametrize("home_set", [True, False])
def test_flows_from_stackwatch_home_are_the_projects_own(tmp_path: Path, home_set: bool) -> None:
    """The image puts the project's flows in STACKWATCH_HOME (/app), first on the path."""
    home = tmp_path / "app"
    shutil.copytree(REPO / "flows", home / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    env = {HOME_ENV: str(home)} if home_set else {}
    result = run(["-m", "stackwatch", "flows", "list"], path=[home, REPO], cwd=tmp_path, **env)
    if home_set:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1
        assert result.stderr == shadow_message("flows", home / "flows")
