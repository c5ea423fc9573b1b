"""The real launcher (``python -m flows.launcher``) as ``make run`` starts it, on free ports."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tests.support.procs import free_port, wait_for
from tests.support.timing import within

REPO = Path(__file__).resolve().parent.parent.parent


def retrying_session() -> requests.Session:
    """Like Prefect's own client: retry while a Prefect server's SQLite is busy (502, 503)."""
    session = requests.Session()
    retry = Retry(
        total=5,
        backoff_factor=0.5,
        status_forcelist=(502, 503),
        allowed_methods=frozenset({"GET", "POST"}),
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


def launcher_config(tmp_path: Path) -> Path:
    """A config with one rule that fires at once (threshold-alert-check) and no Docker."""
    rules = tmp_path / "rules.yml"
    rules.write_text(
        """
groups:
  - name: threshold-alert-check
    rules:
      - alert: ExporterScraped
        expr: up{job="stackwatch"} == 1
        labels: {severity: warning}
        annotations: {summary: "the exporter at {{ $labels.instance }} is scraped"}
  - name: system-health-check
    rules:
      - alert: ExporterDown
        expr: up{job="stackwatch"} == 0
"""
    )
    config = tmp_path / "stackwatch.yml"
    config.write_text(
        f"""
docker: {{enabled: false}}
exporter:
  collectors: {{host: true, services: false}}
rules:
  paths: ["{rules}"]
smtp:
  to: [ops@example.org]
"""
    )
    return config


class Launcher:
    """``python -m flows.launcher`` as ``make run`` starts it, on free ports."""

    def __init__(self, workdir: Path, config: Path) -> None:
        self.workdir = workdir
        self.state = workdir / "state"
        self.ports = {
            name: free_port()
            for name in ("exporter", "prometheus", "prefect", "runner", "watchdog")
        }
        self.api = f"http://127.0.0.1:{self.ports['prefect']}/api"
        self.prometheus = f"http://127.0.0.1:{self.ports['prometheus']}"
        self.config = config
        self.process: subprocess.Popen[str] | None = None
        self.session = retrying_session()
        self.log_offset = 0

    def start(self, *extra: str, wait: bool = True) -> None:
        log_path = self.workdir / "launcher.log"
        self.log_offset = log_path.stat().st_size if log_path.exists() else 0
        log = log_path.open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flows.launcher",
                "--config",
                str(self.config),
                "--state-dir",
                str(self.state),
                "--exporter-listen",
                f"127.0.0.1:{self.ports['exporter']}",
                "--prometheus-port",
                str(self.ports["prometheus"]),
                "--prefect-port",
                str(self.ports["prefect"]),
                "--runner-port",
                str(self.ports["runner"]),
                "--watchdog-port",
                str(self.ports["watchdog"]),
                "--schedule",
                "system-health-check=10s",
                # the run triggered below must not meet a scheduled one (CANCEL_NEW would
                # cancel it), so this flow's schedule is moved out of the test's way
                "--schedule",
                "threshold-alert-check=52w",
                *extra,
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if wait:
            wait_for(self._running, 240, f"the launcher to start (log: {log.name})", interval=1)
            if self.process.poll() is not None:
                raise AssertionError(f"launcher exited {self.process.returncode}:\n{self.log()}")

    def log(self) -> str:
        """What the launcher printed since its latest start."""
        return (self.workdir / "launcher.log").read_text()[self.log_offset :]

    def _running(self) -> bool:
        assert self.process is not None
        return self.process.poll() is not None or "Press Ctrl-C to stop" in self.log()

    def stop(self) -> int | None:
        """Ctrl-C, as a user would; returns the exit code and kills any child left behind."""
        if self.process is None:
            return None
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = None
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            child.kill()
        self.process = None
        if alive:
            raise AssertionError(f"left running after Ctrl-C: {[c.pid for c in alive]}")
        return code

    def api_get(self, path: str) -> Any:
        response = self.session.get(f"{self.api}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def api_post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.session.post(f"{self.api}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()


def wait_for_run(launcher: Launcher, flow_run_id: str, timeout: float = 120) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run: dict[str, Any] = launcher.api_get(f"/flow_runs/{flow_run_id}")
        return run if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    return wait_for(finished, timeout, f"flow run {flow_run_id} to finish", interval=1)


TERMINAL = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]


def runs_in(launcher: Launcher, flow: str, types: list[str]) -> list[dict[str, Any]]:
    """The runs of ``flow``'s deployment in states of these types."""
    runs: list[dict[str, Any]] = launcher.api_post(
        "/flow_runs/filter",
        {
            "flow_runs": {"state": {"type": {"any_": types}}},
            "deployments": {"name": {"any_": [flow]}},
        },
    )
    return runs


def finished_runs(launcher: Launcher, flow: str) -> list[dict[str, Any]]:
    """The runs of ``flow``'s deployment that have ended."""
    return runs_in(launcher, flow, TERMINAL)


def part(launcher: Launcher, marker: str) -> psutil.Process:
    """The launcher's child whose command line holds ``marker``."""
    assert launcher.process is not None
    for child in psutil.Process(launcher.process.pid).children():
        if marker in " ".join(child.cmdline()):
            return child
    raise AssertionError(f"no part {marker!r} under the launcher")


def running_run(launcher: Launcher, flow: str) -> dict[str, Any]:
    """A run of ``flow`` once one is Running: the moment to kill its runner mid-run."""
    runs = wait_for(
        lambda: runs_in(launcher, flow, ["RUNNING"]), within(120), f"a {flow} run", interval=0.1
    )
    return runs[0]
