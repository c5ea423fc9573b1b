"""The production stack of docker-compose.yml, booted whole on a dockerd of the test's own.

No registry is reachable here: the Dockerfile's base image is a Debian root made with
debootstrap (cached outside the checkout, tests/support/debian_base.py), Prometheus and
PostgreSQL are stand-ins built from Debian packages on it and Grafana is a labelled stand-in
answering its health check (tests/fixtures/stack/Dockerfile). The project image is built from
the Dockerfile unchanged, and ``docker-compose up -d`` runs with ``.env.example`` and an
override file that swaps only images and addresses: the published ports bind to a loopback
address of this run, the stack gets a bridge network of its own, and the Docker socket,
the flows folder and ``host.docker.internal`` point at this run's dockerd, copy and bridge.

Run it alone with ``pytest -m stack``; every phase is logged with its duration.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.compose import ENV_EXAMPLE, REPO
from tests.support.debian_base import debian_base_tar, dockerfile_base_image, import_base
from tests.support.dockerd import DockerDaemon, required_dockerd
from tests.support.image_cache import PROJECT_CACHE, cached_images, context_digest
from tests.support.procs import free_port, require_binary, wait_for
from tests.support.smtp import SmtpServer
from tests.support.timing import within

pytestmark = [pytest.mark.stack, pytest.mark.integration, pytest.mark.timeout(1800)]

log = logging.getLogger("stackwatch.test_stack")

STANDINS = REPO / "tests" / "fixtures" / "stack"
PROJECT_IMAGE = "stackwatch:local"  # .env.example's STACKWATCH_IMAGE
STANDIN_IMAGES = {
    "prometheus": "stackwatch-standin/prometheus:bookworm",
    "prefect-db": "stackwatch-standin/postgres:bookworm",
    "grafana": "stackwatch-standin/grafana:bookworm",
}
STANDIN_TARGETS = {"prometheus": "prometheus", "prefect-db": "postgres", "grafana": "grafana"}
SERVICES = (
    "exporter",
    "prometheus",
    "prefect-db",
    "prefect-server",
    "prefect-worker",
    "watchdog",
    "grafana",
)
PORTS = {"exporter": 9810, "prometheus": 9090, "prefect": 4200, "grafana": 3000}  # .env.example
SMTP_PORT = 25  # .env.example's SMTP_PORT, on the bridge's gateway address


def root_is_shared() -> bool:
    """Whether ``/`` is a shared mount (``rslave`` on ``/:/host`` needs one), from the
    propagation field of its line in /proc/self/mountinfo."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return any(f.startswith("shared:") for f in fields[6 : fields.index("-")])
    return False


NEW_FLOW = '''"""A flow added after the stack started, to show a worker restart registers it."""

import time

from prefect import flow


@flow(name="stack-probe")
def stack_probe(seconds: float = 0.0) -> str:
    time.sleep(seconds)
    return "probed"
'''
NEW_DEPLOYMENT = {
    "name": "stack-probe",
    "entrypoint": "flows/stack_probe.py:stack_probe",
    "work_pool": {"name": "stackwatch", "work_queue_name": "default", "job_variables": {}},
    # as prefect.yaml's seven: one run at a time, a run due while one is going is cancelled
    "concurrency_limit": {"limit": 1, "collision_strategy": "CANCEL_NEW"},
}


class Progress:
    """Writes each phase and its duration where the user sees it, even with output captured."""

    def __init__(self, config: pytest.Config) -> None:
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capture = config.pluginmanager.get_plugin("capturemanager")
        self.timings: list[tuple[str, float]] = []

    def say(self, text: str) -> None:
        log.info("%s", text)
        if self.reporter is None:
            return
        suspended = (
            self.capture.global_and_fixture_disabled()
            if self.capture is not None
            else contextlib.nullcontext()
        )
        with suspended:
            self.reporter.write_line(f"[stack] {text}")
            self.reporter.flush()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.say(f"{name} ...")
        started = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - started
            self.timings.append((name, took))
            self.say(f"{name}: {took:.0f} s")

    def summary(self) -> None:
        total = sum(took for _, took in self.timings)
        rows = "\n".join(f"  {took:6.0f} s  {name}" for name, took in self.timings)
        self.say(f"phases:\n{rows}\n  {total:6.0f} s  total")


_random = random.SystemRandom()  # unseeded: runs at once pick apart


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(
        ["ip", "-j", "-4", "route", "show", "table", "all"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    used = []
    for route in json.loads(out):
        destination = route.get("dst", "")
        if destination in ("default", ""):
            continue
        with contextlib.suppress(ValueError):
            used.append(ipaddress.ip_network(destination, strict=False))
    return [net for net in used if isinstance(net, ipaddress.IPv4Network)]


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no route of this host overlaps (no other bridge has it)."""
    used = _used_networks()
    candidates = list(ipaddress.IPv4Network("10.213.0.0/16").subnets(new_prefix=24))
    _random.shuffle(candidates)
    for subnet in candidates:
        if not any(subnet.overlaps(net) for net in used):
            return subnet
    raise AssertionError("no free /24 in 10.213.0.0/16 for the stack's bridge")


def smtp_port() -> int:
    """.env.example's port 25 unless a mail server of the host already holds it everywhere."""
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", SMTP_PORT))
        except OSError:
            return free_port()
    return SMTP_PORT


def free_loopback(ports: list[int]) -> str:
    """A 127.x.y.z address on which all ``ports`` are free: the stack's own published ports."""
    for _ in range(50):
        x, y, z = (_random.randint(1, 254) for _ in range(3))
        address = f"127.{x}.{y}.{z}"
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind((address, port))
        except OSError:
            continue
        return address
    raise AssertionError("no loopback address with the stack's ports free")


@dataclass
class Stack:
    """The running stack: where its parts answer, and how to drive docker-compose."""

    daemon: DockerDaemon
    folder: Path
    project: str
    address: str
    gateway: str
    override: Path
    compose_binary: str
    smtp: SmtpServer
    progress: Progress
    env: dict[str, str] = field(default_factory=dict)

    def url(self, name: str, path: str) -> str:
        return f"http://{self.address}:{PORTS[name]}{path}"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [
            self.compose_binary,
            "--project-name",
            self.project,
            "--project-directory",
            str(REPO),
            "--env-file",
            str(ENV_EXAMPLE),
            "-f",
            str(REPO / "docker-compose.yml"),
            "-f",
            str(self.override),
            *args,
        ]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=within(timeout),
            cwd=REPO,
            env=self.env,
            check=False,
        )
        assert result.returncode == 0, (
            f"docker-compose {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
        return result

    def containers(self) -> dict[str, dict[str, Any]]:
        """Service name -> the inspected container of this project."""
        api = self.daemon.api
        found = api.containers(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )
        out = {}
        for summary in found:
            service = summary["Labels"].get("com.docker.compose.service", "")
            out[service] = api.inspect_container(summary["Id"])
        return out

    def logs(self, service: str, tail: int = 60) -> str:
        for name, container in self.containers().items():
            if name == service:
                raw = self.daemon.api.logs(container["Id"], tail=tail)
                return str(raw.decode(errors="replace"))
        return f"(no container for {service})"

    def prefect(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(
            method, self.url("prefect", f"/api{path}"), json=body, timeout=30
        )
        response.raise_for_status()
        return response.json() if response.content else None


def _build(progress: Progress, daemon: DockerDaemon, what: str, **kwargs: Any) -> None:
    """Build on ``daemon`` with the host's network (the stack's bridge has no way out)."""
    last = ""
    for chunk in daemon.api.build(
        decode=True, rm=True, forcerm=True, pull=False, network_mode="host", **kwargs
    ):
        if "error" in chunk:
            raise AssertionError(f"building {what} failed: {chunk['error']}\n{last}")
        line = str(chunk.get("stream", "")).strip()
        if line:
            last = (last + "\n" + line)[-3000:]
            if line.startswith("Step "):
                progress.say(f"  {what}: {line}")


def write_override(stack_dir: Path, subnet: ipaddress.IPv4Network, bridge: str) -> Path:
    """Images, addresses and the worker's flows folder: nothing else of the stack changes."""
    flows = stack_dir / "app"
    shutil.copytree(REPO / "flows", flows / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "prefect.yaml", flows / "prefect.yaml")
    for path in [flows, *flows.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # the image's non-root user reads them
    services: dict[str, Any] = {name: {"image": image} for name, image in STANDIN_IMAGES.items()}
    services["prefect-worker"] = {
        "volumes": [
            f"{flows / 'flows'}:/app/flows:ro",
            f"{flows / 'prefect.yaml'}:/app/prefect.yaml:ro",
        ]
    }
    override = {
        "services": services,
        "networks": {
            "default": {
                "driver": "bridge",
                "driver_opts": {"com.docker.network.bridge.name": bridge},
                "ipam": {"config": [{"subnet": str(subnet), "gateway": str(next(subnet.hosts()))}]},
            }
        },
    }
    path = stack_dir / "docker-compose.test.yml"
    path.write_text(yaml.safe_dump(override, sort_keys=False))
    return path


def all_healthy(stack: Stack) -> list[str] | None:
    """None while a service is not yet healthy; raises once one has exited or turned unhealthy."""
    containers = stack.containers()
    states = {}
    for service in SERVICES:
        container = containers.get(service)
        if container is None:
            return None
        state = container["State"]
        if state["Status"] == "exited":
            raise AssertionError(f"{service} exited ({state['ExitCode']}):\n{stack.logs(service)}")
        health = state.get("Health", {}).get("Status", "none")
        if health == "unhealthy":
            raise AssertionError(f"{service} is unhealthy:\n{stack.logs(service)}")
        states[service] = health
    waiting = [service for service, health in states.items() if health != "healthy"]
    return None if waiting else sorted(states)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    compose_binary = require_binary("docker-compose", "docker-compose")
    progress = Progress(request.config)
    subnet = free_subnet()
    gateway = str(next(subnet.hosts()))
    bridge = f"swt{subnet.network_address.packed[2]}-{os.getpid() % 10000}"
    address = free_loopback(list(PORTS.values()))
    mail_port = smtp_port()
    folder = Path(tempfile.mkdtemp(prefix="stackwatch-stack-"))
    progress.say(
        f"stack on {address} (ports {', '.join(map(str, PORTS.values()))}), bridge {bridge} "
        f"{subnet}, SMTP on {gateway}:{mail_port}, work folder {folder}"
    )
    with progress.phase("Debian base root (debootstrap, cached)"):
        tar = debian_base_tar()
    # host.docker.internal (host-gateway) is the stack bridge's gateway: this dockerd has no
    # default bridge to take it from. Nothing is routed between networks, so the host's IP
    # forwarding is left as it is (the other test dockerds have no bridge at all).
    daemon = required_dockerd(extra_args=[f"--host-gateway-ip={gateway}", "--ip-forward=false"])
    smtp = SmtpServer()
    try:
        with progress.phase("dockerd"):
            daemon.start()
        base = dockerfile_base_image(REPO / "Dockerfile")
        with progress.phase(f"docker import as {base}"):
            import_base(daemon, base, tar)

        def build_project() -> None:
            _build(progress, daemon, PROJECT_IMAGE, path=str(REPO), tag=PROJECT_IMAGE)

        def build_standins() -> None:
            for service, image in STANDIN_IMAGES.items():
                _build(
                    progress,
                    daemon,
                    image,
                    path=str(STANDINS),
                    tag=image,
                    target=STANDIN_TARGETS[service],
                    buildargs={"BASE": base},
                )

        # loaded instead of built when nothing they are built from changed since the last run
        # (or since tests/test_image.py built the same checkout)
        with progress.phase(f"{PROJECT_IMAGE} from the Dockerfile (built, or cached)"):
            digest = context_digest(REPO, tar.name)
            if cached_images(daemon, PROJECT_CACHE, digest, [PROJECT_IMAGE], build_project):
                progress.say(f"  {PROJECT_IMAGE}: the checkout is unchanged, loaded from the cache")
        with progress.phase("stand-ins for Prometheus, PostgreSQL, Grafana (built, or cached)"):
            digest = context_digest(STANDINS, tar.name)
            standins = STANDIN_IMAGES.values()
            if cached_images(daemon, "standin-images", digest, standins, build_standins):
                progress.say("  stand-ins: unchanged, loaded from the cache")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
        env.update(
            DOCKER_HOST=daemon.host,
            BIND_ADDRESS=address,
            DOCKER_SOCKET=str(daemon.socket),
            DOCKER_GID=str(daemon.socket.stat().st_gid),
            SMTP_PORT=str(mail_port),
        )
        if not root_is_shared():  # as docs/production.md tells such a host to do
            env["HOST_ROOT_MOUNT_OPTIONS"] = "ro"
            progress.say("  / is not a shared mount here: HOST_ROOT_MOUNT_OPTIONS=ro")
        stack = Stack(
            daemon=daemon,
            folder=folder,
            project=f"swt{os.getpid()}",
            address=address,
            gateway=gateway,
            override=write_override(folder, subnet, bridge),
            compose_binary=compose_binary,
            smtp=smtp,
            progress=progress,
            env=env,
        )
        try:
            with progress.phase("docker-compose up -d"):
                stack.compose("up", "-d", "--no-build")
            smtp.host, smtp.port = gateway, mail_port
            smtp.start()  # the gateway address exists once the bridge does
            with progress.phase("every service healthy"):
                wait_for(lambda: all_healthy(stack), within(420), "every service healthy", 3)
            yield stack
        finally:
            with progress.phase("docker-compose down -v"):
                try:
                    stack.compose("down", "-v", "--timeout", "10")
                finally:
                    progress.summary()
    finally:
        smtp.stop()
        daemon.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_every_service_is_healthy(stack: Stack) -> None:
    assert all_healthy(stack) == sorted(SERVICES)


def metrics(stack: Stack) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = requests.get(stack.url("exporter", "/metrics"), timeout=30).text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def test_the_exporter_reports_this_host(stack: Stack) -> None:
    found = metrics(stack)
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    mem_total = int(meminfo["MemTotal"].split()[0]) * 1024
    assert found["node_memory_MemTotal_bytes"] == [({}, float(mem_total))]
    btime = next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    [(_, boot)] = found["node_boot_time_seconds"]
    assert abs(boot - btime) <= 1
    cpus = {labels["cpu"] for labels, _ in found["node_cpu_seconds_total"]}
    assert len(cpus) == os.cpu_count()
    [(uname, _)] = found["node_uname_info"]
    assert uname["release"] == os.uname().release
    assert uname["machine"] == os.uname().machine
    # the host's name, not the container's id (which changes on every recreate)
    assert uname["nodename"] == os.uname().nodename


def test_prometheus_scrapes_both_targets_and_loads_the_rules(stack: Stack) -> None:
    def both_up() -> dict[str, str] | None:
        body = requests.get(stack.url("prometheus", "/api/v1/targets"), timeout=10).json()
        health = {t["labels"]["job"]: t["health"] for t in body["data"]["activeTargets"]}
        return health if health == {"stackwatch": "up", "prometheus": "up"} else None

    wait_for(both_up, within(90), "both Prometheus targets up", 2)
    body = requests.get(stack.url("prometheus", "/api/v1/rules"), timeout=10).json()
    files = {group["file"] for group in body["data"]["groups"]}
    assert files == {f"/etc/prometheus/rules/{p.name}" for p in (REPO / "rules").glob("*.yml")}
    assert all(group["rules"] for group in body["data"]["groups"])


def deployments(stack: Stack) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in stack.prefect("POST", "/deployments/filter", {})}


def test_the_prefect_api_lists_the_seven_deployments_with_their_schedules(stack: Stack) -> None:
    wanted = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    assert len(wanted) == 7
    found = deployments(stack)
    assert set(found) == {d["name"] for d in wanted}
    for deployment in wanted:
        schedules = [
            (s["schedule"].get("cron"), s["schedule"].get("timezone"), s["active"])
            for s in found[deployment["name"]]["schedules"]
        ]
        expected = [(s["cron"], s["timezone"], True) for s in deployment["schedules"]]
        assert schedules == expected, deployment["name"]


def run_deployment(stack: Stack, name: str, timeout: float = 300) -> dict[str, Any]:
    """Trigger ``name`` and wait for a final state; a run cancelled because a scheduled one
    of the same deployment was running (its concurrency limit) is triggered again."""
    for _ in range(3):
        deployment = wait_for(lambda: deployments(stack).get(name), within(60), name, 2)
        run = stack.prefect("POST", f"/deployments/{deployment['id']}/create_flow_run", {})
        done = wait_finished(stack, run["id"], timeout, f"a run of {name} to finish")
        if done["state"]["type"] != "CANCELLED":
            return done
        stack.progress.say(f"  {name}: {done['state']['message']}; triggering again")
    return done


FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def wait_finished(stack: Stack, run_id: str, timeout: float, what: str) -> dict[str, Any]:
    """The flow run ``run_id`` once it is in a final state."""

    def final() -> dict[str, Any] | None:
        current: dict[str, Any] = stack.prefect("GET", f"/flow_runs/{run_id}")
        return current if current["state"]["type"] in FINAL_STATES else None

    return wait_for(final, within(timeout), what, 3)


def run_logs(stack: Stack, run_id: str) -> str:
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC"}
    return "\n".join(entry["message"] for entry in stack.prefect("POST", "/logs/filter", body))


def mail_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def test_triggered_flows_complete_and_the_cleanup_report_is_mailed(stack: Stack) -> None:
    with stack.progress.phase("system-health-check and weekly-cleanup-report runs"):
        check = run_deployment(stack, "system-health-check")
        cleanup = run_deployment(stack, "weekly-cleanup-report")
    for run in (check, cleanup):
        assert run["state"]["type"] == "COMPLETED", (
            f"{run['name']}: {run['state']}\n{run_logs(stack, run['id'])}"
        )

    def report() -> EmailMessage | None:
        return next((m for m in stack.smtp.messages if "Weekly cleanup" in str(m["Subject"])), None)

    # sent through host.docker.internal, this run's SMTP server on the bridge's gateway
    message = wait_for(report, within(60), "the cleanup report mail on the host's SMTP server", 1)
    assert message["X-Envelope-To"] == "ops@example.org"  # .env.example's ALERT_TO
    text = mail_text(message)
    assert "Filesystems: could not be listed" not in text, run_logs(stack, cleanup["id"])
    assert "Free space per filesystem" in text
    assert any(line.split()[:1] == ["/"] for line in text.splitlines()), text


def test_restarting_the_worker_registers_a_new_flow(stack: Stack) -> None:
    app = stack.folder / "app"
    (app / "flows" / "stack_probe.py").write_text(NEW_FLOW)
    (app / "flows" / "stack_probe.py").chmod(0o644)
    project = yaml.safe_load((app / "prefect.yaml").read_text())
    project["deployments"].append(NEW_DEPLOYMENT)
    (app / "prefect.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    assert "stack-probe" not in deployments(stack)
    with stack.progress.phase("docker-compose restart prefect-worker"):
        stack.compose("restart", "prefect-worker")
        wait_for(
            lambda: "stack-probe" in deployments(stack),
            within(180),
            "the new deployment registered",
            3,
        )
    run = run_deployment(stack, "stack-probe")
    assert run["state"]["type"] == "COMPLETED", run_logs(stack, run["id"])


def test_a_run_the_killed_worker_left_running_is_crashed_and_the_next_run_is_not_cancelled(
    stack: Stack,
) -> None:
    """Needs the stack-probe deployment the test before adds."""
    deployment = deployments(stack).get("stack-probe")
    assert deployment is not None, "stack-probe is added by the worker-restart test before"
    run = stack.prefect(
        "POST",
        f"/deployments/{deployment['id']}/create_flow_run",
        {"parameters": {"seconds": 900}},
    )

    def state() -> dict[str, Any]:
        found: dict[str, Any] = stack.prefect("GET", f"/flow_runs/{run['id']}")["state"]
        return found

    wait_for(lambda: state()["type"] == "RUNNING", within(180), "the long run to be Running", 2)
    with stack.progress.phase("docker-compose kill + start prefect-worker, mid-run"):
        stack.compose("kill", "prefect-worker")
        stack.compose("start", "prefect-worker")
        ended = wait_for(
            lambda: (s := state())["type"] != "RUNNING" and s,
            within(240),
            "the run the killed worker left to be ended",
            3,
        )
    assert ended["type"] == "CRASHED", ended
    assert ended["message"].startswith("Its flow runner or worker died while it was running"), ended
    # its one-run-at-a-time slot is free again: the next run is not cancelled
    after = stack.prefect("POST", f"/deployments/{deployment['id']}/create_flow_run", {})
    done = wait_finished(stack, after["id"], 180, "the next stack-probe run to finish")
    assert done["state"]["type"] == "COMPLETED", done["state"]
