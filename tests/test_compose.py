"""The production stack: docker-compose.yml, .env.example, prometheus.yml, the image.

No image registry is reachable here, so nothing is pulled or started with compose: the compose
file is validated by docker-compose itself and read back resolved; the Dockerfile is checked by
a small instruction-level linter (and built only where its base image is present); the worker
container's start script runs against a real Prefect server.
"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from flows.launcher import local_prometheus_config
from stackwatch.config import parse_config
from tests.support.procs import free_port, require_binary, wait_for
from tests.support.prometheus import PrometheusServer

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
SEVEN = {
    "system-health-check",
    "services-health-check",
    "threshold-alert-check",
    "docker-restart-monitor",
    "k8s-health-check",
    "daily-summary-report",
    "weekly-cleanup-report",
}


def compose_config(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    binary = require_binary("docker-compose", "docker-compose")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    return subprocess.run(
        [binary, "-f", str(COMPOSE), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=environ,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """docker-compose.yml as docker-compose resolves it with .env.example (all profiles)."""
    result = compose_config("--profile", "mail", "config")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def mounts_of(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Container path -> (source, mode) of every volume, from short or long syntax."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *rest = volume.split(":")
            out[target] = (source, rest[0] if rest else "rw")
        else:
            mode = "ro" if volume.get("read_only") else "rw"
            out[volume["target"]] = (str(volume.get("source", "")), mode)
    return out


# --- compose ---------------------------------------------------------------------------------


def test_docker_compose_accepts_the_file_with_env_example() -> None:
    result = compose_config("config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # no warning of an unset variable


def test_the_two_passwords_are_required(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "\n".join(
            line
            for line in ENV_EXAMPLE.read_text().splitlines()
            if not line.startswith(("GRAFANA_ADMIN_PASSWORD=", "PREFECT_DB_PASSWORD="))
        )
    )
    result = compose_config("config", "-q", env_file=env_file)
    assert result.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD in .env" in result.stderr or (
        "set PREFECT_DB_PASSWORD in .env" in result.stderr
    )


def test_every_variable_of_the_compose_file_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert used - documented == set()


def test_services_restart_policies_and_healthchecks(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {
        "exporter",
        "prometheus",
        "prefect-db",
        "prefect-server",
        "prefect-worker",
        "grafana",
        "mailpit",
    }
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        if name != "mailpit":  # mailpit's image declares its own HEALTHCHECK
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert services["mailpit"]["profiles"] == ["mail"]
    assert all("profiles" not in s for n, s in services.items() if n != "mailpit")


def test_start_order(resolved: dict[str, Any]) -> None:
    services = resolved["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert conditions("prefect-server") == {"prefect-db": "service_healthy"}
    assert conditions("prefect-worker") == {
        "prefect-server": "service_healthy",
        "prometheus": "service_healthy",
    }
    assert conditions("grafana") == {"prometheus": "service_healthy"}
    # Prometheus starts even when the exporter is unhealthy: up == 0 is itself an alert
    assert conditions("prometheus") == {"exporter": "service_started"}


def test_exporter_sees_the_host(resolved: dict[str, Any]) -> None:
    exporter = resolved["services"]["exporter"]
    assert exporter["pid"] == "host"
    mounts = mounts_of(exporter)
    assert mounts["/host"][0] == "/"
    assert mounts["/host"][1].startswith("ro")
    assert mounts["/var/run/docker.sock"] == ("/var/run/docker.sock", "ro")
    assert env_of(exporter)["STACKWATCH__EXPORTER__ROOTFS"] == "/host"
    assert not any("SMTP" in key for key in env_of(exporter))  # it never sends mail
    assert exporter["group_add"] == ["999"]


def test_published_ports(resolved: dict[str, Any]) -> None:
    published = {}
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            host_ip, host_port, container = str(port).rsplit(":", 2)
            assert host_ip == "127.0.0.1", name
            published[name] = (int(host_port), int(container.split("/")[0]))
    assert published == {
        "exporter": (9810, 9810),
        "prometheus": (9090, 9090),
        "prefect-server": (4200, 4200),
        "grafana": (3000, 3000),
        "mailpit": (8025, 8025),
    }


def test_prometheus_reads_this_repo_config_and_rules_and_keeps_data(
    resolved: dict[str, Any],
) -> None:
    prometheus = resolved["services"]["prometheus"]
    mounts = mounts_of(prometheus)
    config_path = "/etc/prometheus/prometheus.yml"
    assert mounts[config_path] == (str(REPO / "prometheus.yml"), "ro")
    # prometheus.yml's relative rule_files resolve beside the config file
    rules_glob = yaml.safe_load((REPO / "prometheus.yml").read_text())["rule_files"][0]
    rules_dir = str(Path(config_path).parent / Path(rules_glob).parent)
    assert mounts[rules_dir] == (str(REPO / "rules"), "ro")
    assert mounts["/prometheus"][0] == "prometheus-data"
    command = prometheus["command"]
    assert f"--config.file={config_path}" in command
    assert "--storage.tsdb.path=/prometheus" in command
    assert "--storage.tsdb.retention.time=30d" in command
    assert "--enable-feature=expand-external-labels" in command
    assert env_of(prometheus)["STACKWATCH_HOST"] == "stackwatch"


def test_worker_registers_deployments_with_what_the_flows_need(resolved: dict[str, Any]) -> None:
    worker = resolved["services"]["prefect-worker"]
    assert worker["command"] == ["stackwatch-worker"]
    env = env_of(worker)
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert "host.docker.internal:host-gateway" in worker["extra_hosts"]
    mounts = mounts_of(worker)
    assert mounts["/var/run/docker.sock"][0] == "/var/run/docker.sock"  # prune needs writes
    assert mounts["/etc/stackwatch/kubeconfig"] == ("/dev/null", "ro")
    # a new flow and its deployment need a restart, not a rebuild
    assert mounts["/app/flows"] == (str(REPO / "flows"), "ro")
    assert mounts["/app/prefect.yaml"] == (str(REPO / "prefect.yaml"), "ro")
    assert mounts["/var/lib/stackwatch"][0] == "stackwatch-state"


def container_config(service: dict[str, Any]) -> Any:
    """The stackwatch Config a container of this service loads: its file plus its env."""
    source, _ = mounts_of(service)["/etc/stackwatch/stackwatch.yml"]
    return parse_config(Path(source).read_text(), source, environ=env_of(service))


def test_worker_config_sends_mail_to_the_host_relay_and_keeps_state_on_the_volume(
    resolved: dict[str, Any],
) -> None:
    worker = resolved["services"]["prefect-worker"]
    config = container_config(worker)
    assert (config.smtp.host, config.smtp.effective_port, config.smtp.tls) == (
        "host.docker.internal",
        25,
        "none",
    )
    assert config.smtp.to == ["ops@example.org"]
    assert config.smtp.username == ""  # no login on the relay
    assert str(config.state.path).startswith("/var/lib/stackwatch/")
    assert str(config.smtp.outbox_dir).startswith("/var/lib/stackwatch/")
    assert config.prometheus.url == "http://prometheus:9090"
    assert config.kubernetes.enabled is False
    assert str(config.kubernetes.kubeconfig) == "/etc/stackwatch/kubeconfig"
    assert config.links.prefect_ui_url == "http://localhost:4200"


def test_exporter_config_reads_the_mounted_host(resolved: dict[str, Any]) -> None:
    config = container_config(resolved["services"]["exporter"])
    assert str(config.exporter.rootfs) == "/host"
    assert config.exporter.listen.endswith(":9810")
    assert config.docker.host == "unix:///var/run/docker.sock"
    probed = {service.name: service.url for service in config.services}
    assert probed == {
        "prometheus": "http://prometheus:9090/-/healthy",
        "grafana": "http://grafana:3000/api/health",
        "prefect": "http://prefect-server:4200/api/health",
    }


def test_mailpit_profile_is_reachable_with_the_documented_settings(tmp_path: Path) -> None:
    text = ENV_EXAMPLE.read_text()
    text = re.sub(r"^SMTP_HOST=.*$", "SMTP_HOST=mailpit", text, flags=re.MULTILINE)
    text = re.sub(r"^SMTP_PORT=.*$", "SMTP_PORT=1025", text, flags=re.MULTILINE)
    env_file = tmp_path / ".env"
    env_file.write_text(text)
    result = compose_config("--profile", "mail", "config", env_file=env_file)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    config = container_config(services["prefect-worker"])
    assert (config.smtp.host, config.smtp.effective_port) == ("mailpit", 1025)
    assert "mailpit" in services


def test_grafana_is_provisioned_from_the_repo(resolved: dict[str, Any]) -> None:
    grafana = resolved["services"]["grafana"]
    mounts = mounts_of(grafana)
    assert mounts["/etc/grafana/provisioning"] == (str(REPO / "grafana/provisioning"), "ro")
    providers = yaml.safe_load(
        (REPO / "grafana/provisioning/dashboards/stackwatch.yml").read_text()
    )["providers"]
    [provider] = providers
    dashboards_dir = provider["options"]["path"]
    assert mounts[dashboards_dir] == (str(REPO / "grafana/dashboards"), "ro")
    home = env_of(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/stackwatch.json"
    [datasource] = yaml.safe_load(
        (REPO / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    assert env_of(grafana)["GF_SECURITY_ADMIN_PASSWORD"]  # from .env, required


# --- prometheus.yml ------------------------------------------------------------------------------


def test_promtool_accepts_prometheus_yml_with_the_rules(tmp_path: Path) -> None:
    promtool = require_binary("promtool", "prometheus")
    shutil.copy(REPO / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(REPO / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = sorted(p.name for p in (REPO / "rules").glob("*.yml"))
    assert rule_files, "no rule files in rules/"
    assert f"SUCCESS: {len(rule_files)} rule files found" in result.stdout


def test_prometheus_yml_scrapes_the_exporter_and_itself_every_15s() -> None:
    config = yaml.safe_load((REPO / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["external_labels"] == {"host": "${STACKWATCH_HOST}"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"stackwatch", "prometheus"}
    assert jobs["stackwatch"]["static_configs"] == [{"targets": ["exporter:9810"]}]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]


def test_make_run_rewrites_the_targets_to_local_processes(tmp_path: Path) -> None:
    config = local_prometheus_config(
        REPO / "prometheus.yml", "127.0.0.1:9810", "127.0.0.1:9090", tmp_path / "rules"
    )
    targets = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert targets == {
        "stackwatch": [{"targets": ["127.0.0.1:9810"]}],
        "prometheus": [{"targets": ["127.0.0.1:9090"]}],
    }
    # the compose file's ${STACKWATCH_HOST} is not expanded locally: the host's name is used
    assert config["global"]["external_labels"] == {"host": socket.gethostname()}


# --- Dockerfile --------------------------------------------------------------------------------

KNOWN_INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip
JSON_FORM = {"CMD", "ENTRYPOINT", "SHELL"}


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their first line number; comments, continuations and directives."""
    instructions: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by BuildKit
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(start, keyword, args.strip()))
    if pending:
        instructions.append(Instruction(start, "<EOF>", pending))
    return instructions


def dockerignore_includes(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""

    def matches(pattern: str, candidate: str) -> bool:
        regex = ""
        for part in re.split(r"(\*\*|\*|\?)", pattern.strip("/")):
            regex += {"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
        return re.fullmatch(regex, candidate) is not None

    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        if any(matches(pattern, candidate) for candidate in candidates):
            included = negate
    return included


def expand_args(value: str, args: dict[str, str]) -> str:
    return re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), m.group(0)), value
    )


def lint_dockerfile(text: str, context: Path) -> list[str]:
    """Problems a build would hit, or that hadolint would flag, in the Dockerfile text."""
    problems: list[str] = []
    instructions = parse_dockerfile(text)
    ignore_file = context / ".dockerignore"
    ignore = []
    if ignore_file.exists():
        ignore = [
            line.strip()
            for line in ignore_file.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        where = f"line {ins.line}"
        keyword = ins.keyword.upper()
        if keyword not in KNOWN_INSTRUCTIONS:
            problems.append(f"{where}: unknown instruction {ins.keyword}")
            continue
        if ins.keyword != keyword:
            problems.append(f"{where}: write instructions in upper case ({ins.keyword})")
        if not stages and keyword not in ("ARG", "FROM"):
            problems.append(f"{where}: {keyword} before the first FROM")
            continue
        if keyword == "ARG" and not stages:
            name, _, default = ins.args.partition("=")
            global_args[name] = default
            continue
        if keyword == "FROM":
            words = ins.args.split()
            image = expand_args(words[0], global_args)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3) or (len(words) == 3 and name is None):
                problems.append(f"{where}: FROM IMAGE [AS NAME]")
            if image not in {s.name for s in stages} and (
                ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
            ):
                problems.append(f"{where}: pin the base image tag ({image})")
            stages.append(Stage(image, name))
            continue
        stage = stages[-1]
        stage.instructions.append(ins)
        if keyword in JSON_FORM and ins.args.startswith("["):
            try:
                parsed = json.loads(ins.args)
            except json.JSONDecodeError:
                problems.append(f"{where}: {keyword} is not valid JSON")
            else:
                if not all(isinstance(item, str) for item in parsed):
                    problems.append(f"{where}: {keyword} must be a list of strings")
        if keyword == "HEALTHCHECK":
            _, _, command = ins.args.partition("CMD ")
            if ins.args.strip() != "NONE" and not command:
                problems.append(f"{where}: HEALTHCHECK needs CMD")
            if command.startswith("["):
                try:
                    json.loads(command)
                except json.JSONDecodeError:
                    problems.append(f"{where}: HEALTHCHECK CMD is not valid JSON")
        if keyword == "RUN":
            if "pip install" in ins.args and "--no-cache-dir" not in ins.args:
                problems.append(f"{where}: pip install without --no-cache-dir")
            if "apt-get install" in ins.args and "--no-install-recommends" not in ins.args:
                problems.append(f"{where}: apt-get install without --no-install-recommends")
            if re.search(r"(^|&&|;)\s*cd ", ins.args):
                problems.append(f"{where}: use WORKDIR instead of cd")
        if keyword in ("COPY", "ADD"):
            words = ins.args.split()
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            if len(paths) < 2:
                problems.append(f"{where}: {keyword} needs a source and a destination")
                continue
            source_stage = next(
                (f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None
            )
            if source_stage is not None:
                if source_stage not in {s.name for s in stages[:-1]}:
                    problems.append(f"{where}: COPY --from={source_stage}: no such earlier stage")
                continue
            for source in paths[:-1]:
                path = context / source
                if not path.exists():
                    problems.append(f"{where}: {source} is not in the build context")
                elif not dockerignore_includes(ignore, source):
                    problems.append(f"{where}: {source} is excluded by .dockerignore")
    if not stages:
        problems.append("no FROM")
        return problems
    final = [ins.keyword.upper() for ins in stages[-1].instructions]
    users = [ins.args for ins in stages[-1].instructions if ins.keyword.upper() == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage runs as root: add USER")
    if "HEALTHCHECK" not in final:
        problems.append("the final stage has no HEALTHCHECK")
    if "CMD" not in final and "ENTRYPOINT" not in final:
        problems.append("the final stage has no CMD or ENTRYPOINT")
    return problems


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
    ],
)
def test_the_linter_finds_each_problem(text: str, problem: str) -> None:
    assert any(problem in found for found in lint_dockerfile(text, REPO))


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image() -> None:
    ignore = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (".env", "stackwatch.yml", ".venv/bin/python", "state/stackwatch.db", ".git"):
        assert not dockerignore_includes(ignore, path), path
    for path in ("pyproject.toml", "exporter/server.py", "deploy/docker/worker.sh", "rules"):
        assert dockerignore_includes(ignore, path), path


def test_scripts_the_image_runs_are_executable_or_run_by_python() -> None:
    assert os.access(REPO / "deploy/docker/worker.sh", os.X_OK)
    text = DOCKERFILE.read_text()
    assert "COPY deploy/docker/worker.sh /usr/local/bin/stackwatch-worker" in text
    assert '"python", "/usr/local/bin/stackwatch-healthcheck"' in text


def test_healthcheck_script_reports_up_and_down() -> None:
    script = REPO / "deploy/docker/healthcheck.py"
    from tests.support.http import LocalServer, fixed

    def run(url: str) -> int:
        return subprocess.run(
            ["python3", str(script), url], capture_output=True, timeout=30
        ).returncode

    with LocalServer(fixed(200)) as ok, LocalServer(fixed(503)) as failing:
        assert run(f"{ok.url}/metrics") == 0
        assert run(f"{failing.url}/metrics") == 1
    assert run(f"http://127.0.0.1:{free_port()}/metrics") == 1


def base_image() -> str:
    args = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^ARG (\w+)=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    }
    first = re.search(r"^FROM (\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert first is not None
    return expand_args(first.group(1), args)


@pytest.mark.integration
def test_image_builds_where_the_base_image_is_available(tmp_path: Path) -> None:
    """Builds with the machine's own Docker daemon when it already holds the base image."""
    import docker
    import docker.errors

    image = base_image()
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except docker.errors.DockerException:
        pytest.skip(
            "no Docker daemon with a registry or the base image here: the image build is "
            "skipped and the Dockerfile is checked by test_dockerfile_passes_the_linter"
        )
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        client.close()
        pytest.skip(
            f"base image {image} is not in the local Docker image store and no registry is "
            "reachable: the image build is skipped and the Dockerfile is checked by "
            "test_dockerfile_passes_the_linter"
        )
    tag = f"stackwatch-test:{os.getpid()}"
    try:
        client.images.build(path=str(REPO), tag=tag, rm=True, pull=False)
        output = client.containers.run(tag, ["stackwatch", "--version"], remove=True)
        assert b"stackwatch" in output
        user = client.containers.run(tag, ["id", "-u"], remove=True)
        assert user.strip() != b"0"
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            client.images.remove(tag, force=True)
        client.close()


# --- what the image installs -------------------------------------------------------------------

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
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", DOCKERFILE.read_text(), re.MULTILINE))
    assert needed <= copied


# --- k3s manifests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for name in ("rbac.yaml", "exporter.yaml"):
        for document in yaml.safe_load_all((REPO / "deploy/k8s" / name).read_text()):
            if document:
                objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def test_k3s_exporter_manifests_fit_the_rbac_and_the_image(
    k8s_objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    account = k8s_objects[("ServiceAccount", "stackwatch")]
    namespace = account["metadata"]["namespace"]
    [uid_text] = re.findall(r"^ARG STACKWATCH_UID=(\d+)$", DOCKERFILE.read_text(), re.MULTILINE)
    uid = int(uid_text)
    configmap = k8s_objects[("ConfigMap", "stackwatch-exporter")]
    for kind, name in (("DaemonSet", "stackwatch-host"), ("Deployment", "stackwatch-cluster")):
        workload = k8s_objects[(kind, name)]
        assert workload["metadata"]["namespace"] == namespace
        spec = workload["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        )
        pod = spec["template"]["spec"]
        assert pod["serviceAccountName"] == account["metadata"]["name"]
        assert pod["securityContext"]["runAsUser"] == uid
        [container] = pod["containers"]
        assert container["command"] == ["stackwatch", "exporter"]
        [config_env] = [e for e in container["env"] if e["name"] == "STACKWATCH_CONFIG"]
        key = Path(config_env["value"]).name
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "config"]
        assert config_env["value"] == f"{mount['mountPath']}/{key}"
        config = parse_config(configmap["data"][key], key, environ={})
        assert config.exporter.listen.endswith(":9810")
        assert container["ports"][0]["containerPort"] == 9810
        if kind == "DaemonSet":
            assert pod["hostPID"] is True
            [host] = [m for m in container["volumeMounts"] if m["name"] == "host"]
            assert host["readOnly"] is True
            assert str(config.exporter.rootfs) == host["mountPath"]
            assert config.collector_enabled("host")
            assert not config.collector_enabled("kubernetes")  # once per cluster, not per node
        else:
            assert spec["replicas"] == 1
            assert config.kubernetes.in_cluster
            assert config.collector_enabled("kubernetes")
            assert not config.collector_enabled("host")
    service = k8s_objects[("Service", "stackwatch-cluster")]
    cluster_labels = k8s_objects[("Deployment", "stackwatch-cluster")]["spec"]["template"]
    assert service["spec"]["selector"].items() <= cluster_labels["metadata"]["labels"].items()


# --- the worker container's start script ---------------------------------------------------

VENV_BIN = Path(sys.executable).parent


def stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[str]:
    """A real ``prefect server start`` (as the prefect-server container runs it) on SQLite."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-server"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    log_path = tmp_path / "prefect-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for(
            lambda: requests.get(f"{api}/health", timeout=2).ok,
            120,
            f"Prefect server on {api} (log: {log_path})",
        )
        yield api
    finally:
        stop_group(process)


def start_worker_script(
    api: str, stackwatch_home: Path, health_port: int, log_path: Path, **extra: str
) -> Any:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(log_path.parent / "prefect-worker"),
        "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
        "PREFECT_WORKER_WEBSERVER_PORT": str(health_port),
        "PREFECT_WORKER_PREFETCH_SECONDS": "0",  # only runs due now, none of the schedules
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "STACKWATCH_HOME": str(stackwatch_home),
        "STACKWATCH_WORK_POOL": "stackwatch",
        **extra,
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            ["sh", str(REPO / "deploy/docker/worker.sh")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def wait_worker_healthy(process: Any, api: str, health_port: int, log_path: Path) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"worker.sh exited {process.returncode}:\n{tail}")
        return requests.get(f"http://127.0.0.1:{health_port}/health", timeout=2).ok

    wait_for(healthy, 180, f"the worker's health endpoint (log: {log_path})", 1)
    wait_for(
        lambda: requests.post(
            f"{api}/work_pools/stackwatch/workers/filter", json={}, timeout=10
        ).json(),
        60,
        "a worker polling the stackwatch pool",
    )


def deployments_by_name(api: str) -> dict[str, dict[str, Any]]:
    found = requests.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    return {deployment["name"]: deployment for deployment in found}


# The README's "add a flow" example, step 1 (a @flow function in a file under flows/) ...
SAMPLE_FLOW = """\
from prefect import flow, get_run_logger

from stackwatch.prometheus import PrometheusClient
from stackwatch.config import load_config


@flow(name="disk-usage-report")
def disk_usage_report() -> None:
    \"\"\"Log how full each filesystem is.\"\"\"
    logger = get_run_logger()
    with PrometheusClient(load_config().prometheus) as prometheus:
        samples = prometheus.query("1 - node_filesystem_avail_bytes / node_filesystem_size_bytes")
        for sample in samples:
            logger.info("%s: %.0f %% used", sample.labels["mountpoint"], sample.value * 100)
        logger.info("%d filesystems checked", len(samples))
"""
# ... and step 2, its deployment at the end of prefect.yaml.
SAMPLE_DEPLOYMENT = """
  - name: disk-usage-report
    entrypoint: flows/sample_flows.py:disk_usage_report
    schedules:
      - cron: "0 7 * * *"
        timezone: UTC
    work_pool: *pool
"""


@pytest.mark.integration
def test_worker_registers_the_deployments_and_a_restart_picks_up_a_new_flow(
    prefect_server: str, tmp_path: Path, start_prometheus: Callable[..., PrometheusServer]
) -> None:
    """The prefect-worker container's start, then the README's three steps to add a flow."""
    home = tmp_path / "app"  # the container's /app: prefect.yaml and flows/ (mounted)
    home.mkdir()
    shutil.copy(REPO / "prefect.yaml", home / "prefect.yaml")
    shutil.copytree(REPO / "flows", home / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    log_path = tmp_path / "worker.log"

    # the container starts: the seven deployments on the process pool, and a worker
    health_port = free_port()
    process = start_worker_script(prefect_server, home, health_port, log_path)
    try:
        wait_worker_healthy(process, prefect_server, health_port, log_path)
        deployments = deployments_by_name(prefect_server)
        assert sorted(deployments) == sorted(SEVEN)
        assert {d["work_pool_name"] for d in deployments.values()} == {"stackwatch"}
        pool = requests.get(f"{prefect_server}/work_pools/stackwatch", timeout=10).json()
        assert pool["type"] == "process"
    finally:
        stop_group(process)

    # steps 1 and 2: a flow and its deployment; step 3: restart the worker
    (home / "flows" / "sample_flows.py").write_text(SAMPLE_FLOW)
    with (home / "prefect.yaml").open("a") as prefect_yaml:
        prefect_yaml.write(SAMPLE_DEPLOYMENT)
    prometheus = start_prometheus(["127.0.0.1:9"])
    health_port = free_port()
    process = start_worker_script(
        prefect_server,
        home,
        health_port,
        log_path,
        STACKWATCH__PROMETHEUS__URL=prometheus.url,
    )
    try:
        wait_worker_healthy(process, prefect_server, health_port, log_path)
        deployments = deployments_by_name(prefect_server)
        assert sorted(deployments) == sorted([*SEVEN, "disk-usage-report"])
        new = deployments["disk-usage-report"]
        assert new["work_pool_name"] == "stackwatch"

        key = f"e2e-{uuid.uuid4()}"

        def create_run() -> dict[str, Any]:
            # Retried: SQLite may be busy with the scheduler's runs of the seven (a 503); the
            # key makes a retried request return the same run, not a second one.
            response = requests.post(
                f"{prefect_server}/deployments/{new['id']}/create_flow_run",
                json={"idempotency_key": key},
                timeout=30,
            )
            if not response.ok:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
            created: dict[str, Any] = response.json()
            return created

        run = wait_for(create_run, 60, "a run of the new deployment", 1)

        def finished() -> str | None:
            state = requests.get(f"{prefect_server}/flow_runs/{run['id']}", timeout=10).json()
            kind: str = state["state"]["type"]
            return kind if kind in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        assert wait_for(finished, 120, f"the new flow's run (log: {log_path})", 1) == "COMPLETED"

        def logged() -> bool:
            logs = requests.post(
                f"{prefect_server}/logs/filter",
                json={"logs": {"flow_run_id": {"any_": [run["id"]]}}},
                timeout=10,
            ).json()
            return any("filesystems checked" in entry["message"] for entry in logs)

        wait_for(logged, 30, "the new flow's log line")  # logs are shipped in batches
    finally:
        stop_group(process)
