"""The image: the Dockerfile passes the linter, installs every package, builds on Debian."""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support.debian_base import debian_base_tar, dockerfile_base_image, import_base
from tests.support.dockerd import required_dockerd
from tests.support.dockerfile import (
    context_copies,
    dockerignore_includes,
    dockerignore_patterns,
    instructions,
    lint_dockerfile,
    parse,
)
from tests.support.http import LocalServer, fixed
from tests.support.image_cache import PROJECT_CACHE, context_digest, save_images
from tests.support.procs import free_port

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"


def test_dockerfile_passes_the_linter() -> None:
    assert lint_dockerfile(DOCKERFILE.read_text(), REPO) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("FROM python:3.11-slim\nRUN true\n", "the final stage runs as root: add USER"),
        ('FROM python\nUSER app\nHEALTHCHECK CMD true\nCMD ["x"]\n', "pin the base image"),
        ('FROM python:3.11\nUSER app\nCMD ["x"]\n', "no HEALTHCHECK"),
        ("FROM python:3.11\nRUNN true\n", "unknown instruction RUNN"),
        ('FROM python:3.11\nCMD ["a", \n', "CMD is not valid JSON"),
        ("FROM python:3.11\nRUN pip install .\n", "pip install without --no-cache-dir"),
        ("FROM python:3.11\nCOPY --from=build /a /b\n", "no such earlier stage"),
        ("FROM python:3.11\nCOPY no-such-file /app/\n", "not in the build context"),
        ("FROM python:3.11\nCOPY tests/ /app/tests/\n", "excluded by .dockerignore"),
        ("WORKDIR /app\nFROM python:3.11\n", "WORKDIR before the first FROM"),
        ("FROM python:3.11\nrun true\n", "write instructions in upper case (run)"),
        ("FROM python:3.11\nRUN apt-get install -y curl\n", "without --no-install-recommends"),
        ("FROM python:3.11\nRUN cd /src && make\n", "use WORKDIR instead of cd"),
        ("FROM python:3.11\nUSER app\nHEALTHCHECK true\n", "HEALTHCHECK needs CMD"),
        ("FROM python:3.11\nUSER app\nRUN true \\\n", "continues into the end of the file"),
        ("# syntax=docker/dockerfile:1\nFROM python:3.11\n", "syntax directive makes BuildKit"),
        ("# escape=`\n#syntax = x/y:1\nFROM python:3.11\n", "line 2: a syntax directive"),
    ],
)
def test_the_linter_finds_each_problem(text: str, problem: str) -> None:
    assert any(problem in found for found in lint_dockerfile(text, REPO))


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image() -> None:
    ignore = dockerignore_patterns(REPO)
    for path in (".env", "stackwatch.yml", ".venv/bin/python", "state/stackwatch.db", ".git"):
        assert not dockerignore_includes(ignore, path), path
    for path in ("pyproject.toml", "exporter/server.py", "deploy/docker/worker.sh", "rules"):
        assert dockerignore_includes(ignore, path), path


def test_scripts_the_image_runs_are_executable_or_run_by_python() -> None:
    assert os.access(REPO / "deploy/docker/worker.sh", os.X_OK)
    text = DOCKERFILE.read_text()
    assert (["deploy/docker/worker.sh"], "/usr/local/bin/stackwatch-worker") in context_copies(text)
    [healthcheck] = [i for i in instructions(parse(text)) if i["instruction"] == "HEALTHCHECK"]
    command = json.loads(healthcheck["value"].partition("CMD ")[2])
    assert command[:2] == ["python", "/usr/local/bin/stackwatch-healthcheck"]


def test_healthcheck_script_reports_up_and_down() -> None:
    script = REPO / "deploy/docker/healthcheck.py"

    def run(url: str) -> int:
        return subprocess.run(
            ["python3", str(script), url], capture_output=True, timeout=30
        ).returncode

    with LocalServer(fixed(200)) as ok, LocalServer(fixed(503)) as failing:
        assert run(f"{ok.url}/metrics") == 0
        assert run(f"{failing.url}/metrics") == 1
    assert run(f"http://127.0.0.1:{free_port()}/metrics") == 1


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_image_builds_on_a_debootstrap_base() -> None:
    """The Dockerfile, unchanged, builds on its base tag made from a debootstrap root (no
    registry is needed), and the image runs stackwatch as a non-root user."""
    import docker.errors

    with required_dockerd() as daemon:
        base = debian_base_tar()
        import_base(daemon, dockerfile_base_image(DOCKERFILE), base)
        tag = "stackwatch:local"  # docker-compose.yml's, on this test's own dockerd
        try:
            daemon.client.images.build(
                path=str(REPO), tag=tag, rm=True, pull=False, network_mode="host"
            )
        except docker.errors.BuildError as exc:
            lines = [str(chunk.get("stream", "")) for chunk in exc.build_log]
            pytest.fail(f"the image does not build: {exc}\n{''.join(lines)[-4000:]}")
        run = daemon.client.containers.run
        output = run(tag, ["stackwatch", "--version"], remove=True, network_mode="none")
        assert b"stackwatch" in output
        user = run(tag, ["id", "-u"], remove=True, network_mode="none")
        assert user.strip() != b"0"
        # tests/test_stack.py loads it instead of building the same checkout again
        save_images(daemon, PROJECT_CACHE, context_digest(REPO, base.name), [tag])


PACKAGES = ("stackwatch", "exporter", "alerter", "flows")


def local_imports(package: str) -> set[str]:
    """Top-level packages of this repository that the modules of ``package`` import."""
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if (REPO / top / "__init__.py").exists():
                    found.add(top)
    return found


def test_the_image_installs_every_package_and_data_file_the_code_needs() -> None:
    """``pip install .`` in the Dockerfile: setuptools' own discovery over pyproject's settings."""
    setuptools = pytest.importorskip("setuptools")
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    installed = set(
        setuptools.find_packages(str(REPO), include=settings["packages"]["find"]["include"])
    )
    needed = set(PACKAGES)
    for package in PACKAGES:
        needed |= local_imports(package)
    assert needed <= {name.split(".")[0] for name in installed}
    package_data = settings.get("package-data", {})
    for package in needed:
        for path in (REPO / package).rglob("*"):
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(REPO / package).as_posix()
            assert any(fnmatch.fnmatch(relative, g) for g in package_data.get(package, [])), (
                f"{package}/{relative} is not installed: add it to package-data"
            )
    copied = {
        sources[0].removesuffix("/")
        for sources, destination in context_copies(DOCKERFILE.read_text())
        if sources == [destination] and destination.endswith("/")
    }
    assert needed <= copied


def locked_install_run() -> str:
    """The shell command of the RUN that installs the runtime lock."""
    runs = [i["value"] for i in instructions(parse(DOCKERFILE.read_text()))]
    [run] = [value for value in runs if "requirements/runtime.txt" in value and "pip" in value]
    return run


def test_build_arguments_for_a_mirror_a_ca_and_a_proxy_are_declared_before_pip() -> None:
    found = instructions(parse(DOCKERFILE.read_text()))
    declared = [i["value"].split("=")[0] for i in found if i["instruction"] == "ARG"]
    assert {"PIP_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CA_CERT"} <= set(declared)
    first_pip = next(n for n, i in enumerate(found) if "pip install" in i["value"])
    assert all(n < first_pip for n, i in enumerate(found) if i["value"].startswith("PIP_CA_CERT"))
    # the proxy variables are Docker's predefined build arguments: declared, they would be
    # kept in the image's history
    assert not {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"} & set(declared)


@pytest.mark.parametrize(
    ("ca", "trusted"), [("", ""), ("-----BEGIN CERTIFICATE-----\nMIIB\n", "mirror.example")]
)
def test_the_install_step_hands_the_ca_and_trusted_host_to_pip(
    tmp_path: Path, ca: str, trusted: str
) -> None:
    """The RUN's own shell text, with pip replaced by a script that reports what it was given."""
    stub = tmp_path / "pip"
    stub.write_text(
        '#!/bin/sh\necho "trusted=${PIP_TRUSTED_HOST-unset}"\n'
        'if [ -n "${PIP_CERT:-}" ]; then echo cert; cat "$PIP_CERT"; fi\n'
    )
    stub.chmod(0o755)
    script = locked_install_run().replace("/opt/stackwatch/bin/pip", str(stub))
    script = script.replace("/tmp/pip-ca.pem", str(tmp_path / "ca.pem"))
    result = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ["PATH"], "PIP_CA_CERT": ca, "PIP_TRUSTED_HOST": trusted},
        check=True,
    )
    assert f"trusted={trusted or 'unset'}" in result.stdout
    if ca:
        assert result.stdout.split("cert\n", 1)[1].strip() == ca.strip()
    else:
        assert "cert" not in result.stdout.replace("trusted=", "")
    assert not (tmp_path / "ca.pem").exists()  # not left in the layer
