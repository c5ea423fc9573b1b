"""The worker container's start script on a real Prefect server; "add a flow" of docs/flows.md."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.procs import free_port, wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within

REPO = Path(__file__).resolve().parent.parent
SEVEN = {
    "system-health-check",
    "services-health-check",
    "threshold-alert-check",
    "docker-restart-monitor",
    "k8s-health-check",
    "daily-summary-report",
    "weekly-cleanup-report",
}
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
            within(120),
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

    wait_for(healthy, within(180), f"the worker's health endpoint (log: {log_path})", 1)
    wait_for(
        lambda: requests.post(
            f"{api}/work_pools/stackwatch/workers/filter", json={}, timeout=10
        ).json(),
        within(60),
        "a worker polling the stackwatch pool",
    )


def deployments_by_name(api: str) -> dict[str, dict[str, Any]]:
    found = requests.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    return {deployment["name"]: deployment for deployment in found}


# The "add a flow" example of docs/flows.md, step 1 (a @flow function in a file under flows/) ...
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
    """The prefect-worker container's start, then the three steps of docs/flows.md to add a flow."""
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

        run = wait_for(create_run, within(60), "a run of the new deployment", 1)

        def finished() -> str | None:
            state = requests.get(f"{prefect_server}/flow_runs/{run['id']}", timeout=10).json()
            kind: str = state["state"]["type"]
            return kind if kind in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        assert (
            wait_for(finished, within(120), f"the new flow's run (log: {log_path})", 1)
            == "COMPLETED"
        )

        def logged() -> bool:
            logs = requests.post(
                f"{prefect_server}/logs/filter",
                json={"logs": {"flow_run_id": {"any_": [run["id"]]}}},
                timeout=10,
            ).json()
            return any("filesystems checked" in entry["message"] for entry in logs)

        wait_for(logged, within(30), "the new flow's log line")  # logs are shipped in batches
    finally:
        stop_group(process)
