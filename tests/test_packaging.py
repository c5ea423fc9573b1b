"""The wheel: exactly the four top-level packages, the data files the code reads, and the
dependencies the code imports; installed, it finds its data and checks its packages."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from stackwatch.install import AREA_PACKAGES, DATA_DIR, ISOLATION_HINT
from tests.support.procs import run_python
from tests.support.timing import within

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {"stackwatch", *AREA_PACKAGES}
# What the build reads: the Dockerfile's build stage copies the same.
BUILD_INPUTS = ("pyproject.toml", "README.md", "prometheus.yml", "rules", *sorted(PACKAGES))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def build_wheel(out: Path) -> Path:
    """Build from a copy of the sources (the build writes into its tree), offline."""
    source = out / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    code = (
        "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(out / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "dist" / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed under a prefix of its own; returns its site-packages.

    ``--ignore-installed``: without it pip uninstalls the stackwatch of the environment that
    runs the tests (the project's own editable install) before installing under the prefix.
    """
    prefix = tmp_path_factory.mktemp("prefix")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--ignore-installed", "--prefix", str(prefix), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [site] = prefix.glob("lib/python*/site-packages")
    return site


def run_installed(
    site: Path, args: list[str], cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Python with the installed wheel first on the path, away from any checkout."""
    return run_python(args, path=[site], cwd=cwd, **env)


def test_the_wheel_installs_exactly_the_four_top_level_packages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [top_level] = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        declared = set(archive.read(top_level).decode().split())
    tops = {name.split("/", 1)[0] for name in names}
    assert {t for t in tops if not t.endswith((".dist-info", ".data"))} == PACKAGES
    assert declared == PACKAGES


def repo_files(folder: str, pattern: str) -> list[Path]:
    found = sorted((REPO / folder).glob(pattern))
    assert found, f"no {folder}/{pattern} in the repo"
    return found


def test_the_wheel_ships_the_rules_the_prometheus_config_and_the_templates(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    [data] = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".data")}
    shared = f"{data}/data/{DATA_DIR}"
    expected = {f"{shared}/prometheus.yml"}
    expected |= {f"{shared}/rules/{p.name}" for p in repo_files("rules", "*.yml")}
    for folder in (
        "alerter/templates",
        "stackwatch/reports/templates",
        "stackwatch/templates/mail",
        "flows/templates",
    ):
        expected |= {f"{folder}/{p.name}" for p in repo_files(folder, "*")}
    assert expected - names == set()


def test_installed_it_finds_its_rules_and_prometheus_config(
    installed: Path, tmp_path: Path
) -> None:
    code = (
        "from stackwatch.config import Config; from stackwatch.install import data_path; "
        "from alerter.rules import load_rules; "
        "print(data_path('prometheus.yml')); print(data_path('rules')); "
        "paths = Config().rules.paths; print(paths[0]); "
        "print(sorted(g.name for g in load_rules(paths).groups))"
    )
    result = run_installed(installed, ["-c", code], cwd=tmp_path)  # no rules/ folder here
    assert result.returncode == 0, result.stderr
    prometheus_yml, rules, default, groups = result.stdout.splitlines()
    shared = installed.parents[2] / DATA_DIR
    assert Path(prometheus_yml) == shared / "prometheus.yml"
    assert Path(prometheus_yml).read_text() == (REPO / "prometheus.yml").read_text()
    assert Path(rules) == shared / "rules"
    assert default == str(shared / "rules" / "*.yml")
    assert groups == str(sorted(p.stem for p in repo_files("rules", "*.yml")))


def test_another_wheels_pyproject_in_site_packages_does_not_make_it_a_checkout(
    installed: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    shutil.copytree(installed.parents[2], prefix, symlinks=True)
    site = prefix / installed.relative_to(installed.parents[2])
    (site / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    code = "from stackwatch.install import data_path; print(data_path('rules'))"
    result = run_installed(site, ["-c", code], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == prefix / DATA_DIR / "rules"


def test_installed_it_passes_its_own_check_quickly(installed: Path, tmp_path: Path) -> None:
    result = run_installed(installed, ["-m", "stackwatch", "flows", "list"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    code = (
        "import time; from stackwatch.install import check_packages; "
        "start = time.perf_counter(); check_packages(); print(time.perf_counter() - start)"
    )
    timed = run_installed(installed, ["-c", code], cwd=tmp_path)
    assert timed.returncode == 0, timed.stderr
    assert float(timed.stdout) < within(0.05)  # it runs at every start of every command


def test_a_distribution_installed_over_its_exporter_is_named(
    installed: Path, tmp_path: Path
) -> None:
    """What installing PyPI's `exporter` beside stackwatch did: it overwrote __init__.py."""
    prefix = tmp_path / "prefix"
    shutil.copytree(installed.parents[2], prefix, symlinks=True)
    site = prefix / installed.relative_to(installed.parents[2])
    (site / "exporter" / "__init__.py").write_text('"""Another project\'s exporter."""\n')
    info = site / "exporter-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exporter\nVersion: 1.2\n")
    (info / "RECORD").write_text("exporter/__init__.py,,\nexporter-1.2.dist-info/METADATA,,\n")
    result = run_installed(site, ["-m", "stackwatch", "flows", "list"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"stackwatch: {site / 'exporter' / '__init__.py'} is not stackwatch's: distribution "
        f"exporter 1.2 installed its own `exporter` over it.\n{ISOLATION_HINT}\n"
    )


# --- dependencies --------------------------------------------------------------------------


def canonical(requirement: str) -> str:
    name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(folders: list[Path]) -> Iterator[tuple[str, Path]]:
    # a bench script may import its sibling scripts (bench/parity.py uses bench/cgroups.py)
    own = PACKAGES | {"tests", "bench"} | {path.stem for path in (REPO / "bench").glob("*.py")}
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".", 1)[0]
                    if top not in sys.stdlib_module_names and top not in own:
                        yield top, path


def distributions_of(folders: list[Path]) -> dict[str, set[str]]:
    """Distribution (canonical name) -> modules importing it."""
    owners = packages_distributions()
    found: dict[str, set[str]] = {}
    for module, path in third_party_imports(folders):
        assert module in owners, f"{path.relative_to(REPO)} imports {module}: not installed"
        for dist in owners[module]:
            found.setdefault(canonical(dist), set()).add(str(path.relative_to(REPO)))
    return found


def test_dependencies_are_exactly_what_the_packages_import() -> None:
    imported = distributions_of([REPO / name for name in sorted(PACKAGES)])
    declared = {canonical(r) for r in PYPROJECT["project"]["dependencies"]}
    assert set(imported) == declared


def test_what_tests_and_benches_import_is_declared_for_dev() -> None:
    imported = distributions_of([REPO / "tests", REPO / "bench"])
    dev = {canonical(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    declared = dev | {canonical(r) for r in PYPROJECT["project"]["dependencies"]}
    missing = {dist: sorted(users) for dist, users in imported.items() if dist not in declared}
    assert missing == {}
