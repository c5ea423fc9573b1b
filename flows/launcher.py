"""``make run``: start the whole stack locally, wait for each part, stop every part on Ctrl-C."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import requests
import yaml

from flows.schedules import parse_schedule_overrides
from stackwatch.config import load_config
from stackwatch.errors import StackwatchError
from stackwatch.install import check_packages, checkout, data_path
from stackwatch.mail import Mailer
from stackwatch.private import open_private_append


class LaunchError(StackwatchError):
    """A component did not start."""


@dataclass
class Component:
    """One child process, with the URL that answers 200 once it is ready."""

    name: str
    argv: list[str]
    ready_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open_private_append(self.log_path) as log:
            self.process = subprocess.Popen(  # noqa: S603 - argv built by the launcher
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=checkout(),  # installed: the caller's folder, as relative paths expect
                start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LaunchError(
                    f"{self.name} exited with code {self.process.returncode} while starting; "
                    f"last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                if requests.get(self.ready_url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise LaunchError(
            f"{self.name} not ready at {self.ready_url} after {self.ready_timeout:.0f}s; "
            f"last lines of {self.log_path}:\n{tail(self.log_path)}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def local_prometheus_config(
    source: Path, exporter_target: str, prometheus_target: str, rules_dir: Path
) -> dict[str, Any]:
    """The repo's prometheus.yml with its targets pointed at the local processes."""
    config: dict[str, Any] = yaml.safe_load(source.read_text()) or {}
    for job in config.get("scrape_configs", []):
        target = prometheus_target if job.get("job_name") == "prometheus" else exporter_target
        job["static_configs"] = [{"targets": [target]}]
    config["rule_files"] = [str(rules_dir / "*.yml")]
    labels = config.get("global", {}).get("external_labels")
    if isinstance(labels, dict) and "host" in labels:
        labels["host"] = socket.gethostname()  # compose fills it from .env
    return config


@dataclass
class Stack:
    """The components ``make run`` starts, in start order."""

    state_dir: Path
    components: list[Component] = field(default_factory=list)
    urls: list[tuple[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # printed before anything starts


def plan(args: argparse.Namespace) -> Stack:
    """Build the components from the arguments; nothing is started here."""
    state = Path(args.state_dir).resolve()
    logs = state / "logs"
    exporter_url = f"http://{args.exporter_listen}"
    prometheus_url = f"http://127.0.0.1:{args.prometheus_port}"
    stack = Stack(state)
    stack.env = {
        "STACKWATCH__PROMETHEUS__URL": prometheus_url,
        "STACKWATCH__STATE__PATH": str(state / "stackwatch.db"),
        "STACKWATCH__SMTP__OUTBOX_DIR": str(state / "outbox"),
    }
    python = sys.executable
    config_args = ["--config", str(args.config)] if args.config else []
    stack.components.append(
        Component(
            "exporter",
            [
                python,
                "-m",
                "stackwatch",
                "exporter",
                *config_args,
                "--listen",
                args.exporter_listen,
            ],
            f"{exporter_url}/metrics",
            logs / "exporter.log",
            env=stack.env,
        )
    )
    prometheus_bin = shutil.which("prometheus") or "/usr/bin/prometheus"
    prometheus_dir = state / "prometheus"
    stack.components.append(
        Component(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={prometheus_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={prometheus_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{args.prometheus_port}",
                "--storage.tsdb.retention.time=15d",
            ],
            f"{prometheus_url}/-/ready",
            logs / "prometheus.log",
        )
    )
    stack.urls += [("Prometheus", prometheus_url), ("Metrics", f"{exporter_url}/metrics")]
    add_prefect(stack, args)
    return stack


def prepare(stack: Stack, args: argparse.Namespace) -> None:
    """Write the files the components read (the local Prometheus config)."""
    prometheus_dir = stack.state_dir / "prometheus"
    prometheus_dir.mkdir(parents=True, exist_ok=True)
    config = local_prometheus_config(
        data_path("prometheus.yml"),
        args.exporter_listen,
        f"127.0.0.1:{args.prometheus_port}",
        data_path("rules"),
    )
    (prometheus_dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def mail_destination(args: argparse.Namespace, state: Path) -> str:
    """Where the flows' mail goes: the configured SMTP server, else the outbox under state."""
    smtp = load_config(args.config).smtp
    if smtp.host is None:
        return f"outbox folder {state / 'outbox'} (.eml files; set smtp.host to send)"
    return Mailer(smtp).describe()


def add_prefect(stack: Stack, args: argparse.Namespace) -> None:
    """A Prefect server on SQLite under the state folder, and one process serving the flows."""
    prefect_home = stack.state_dir / "prefect"
    ui_url = f"http://127.0.0.1:{args.prefect_port}"
    api_url = f"{ui_url}/api"
    prefect_env = {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": api_url,
        "PREFECT_UI_URL": ui_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    python = sys.executable
    stack.components.append(
        Component(
            "prefect-server",
            [python, "-m", "prefect", "server", "start"],
            f"{api_url}/health",
            stack.state_dir / "logs" / "prefect-server.log",
            env={
                **prefect_env,
                "PREFECT_API_DATABASE_CONNECTION_URL": (
                    f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}"
                ),
                "PREFECT_SERVER_API_HOST": "127.0.0.1",
                "PREFECT_SERVER_API_PORT": str(args.prefect_port),
                # the UI calls the API from the browser: --port alone does not move this
                "PREFECT_UI_API_URL": api_url,
            },
            ready_timeout=180.0,
        )
    )
    flow_env = {**stack.env, **prefect_env}
    if args.config:
        flow_env["STACKWATCH_CONFIG"] = str(Path(args.config).resolve())
    flow_env.update(
        {
            "STACKWATCH__LINKS__PREFECT_UI_URL": ui_url,
            # the runner's own health endpoint tells the launcher it is polling for runs
            "PREFECT_RUNNER_SERVER_ENABLE": "true",
            "PREFECT_RUNNER_SERVER_HOST": "127.0.0.1",
            "PREFECT_RUNNER_SERVER_PORT": str(args.runner_port),
        }
    )
    parse_schedule_overrides(args.schedule)  # a bad one stops the launcher before anything starts
    schedules = [arg for item in args.schedule for arg in ("--schedule", item)]
    stack.components.append(
        Component(
            "flows",
            [python, "-m", "flows.serve", *schedules],
            f"http://127.0.0.1:{args.runner_port}/health",
            stack.state_dir / "logs" / "flows.log",
            env=flow_env,
            ready_timeout=120.0,
        )
    )
    stack.urls.insert(0, ("Prefect UI", ui_url))
    mail = mail_destination(args, stack.state_dir)
    stack.urls.append(("Mail", mail))
    stack.notes.append(f"flows mail to {mail}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flows.launcher",
        description="Start stackwatch locally: the exporter, Prometheus and the flows. "
        "State (Prometheus data, alert database, outbox, logs) lives in --state-dir and is "
        "reused by the next run. Ctrl-C stops everything.",
    )
    parser.add_argument("--config", help="stackwatch config file (default: ./stackwatch.yml)")
    parser.add_argument("--state-dir", default=os.environ.get("STACKWATCH_STATE_DIR", "state"))
    parser.add_argument("--exporter-listen", default="127.0.0.1:9810", metavar="HOST:PORT")
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--prefect-port", type=int, default=4200, help="Prefect UI and API")
    parser.add_argument(
        "--runner-port", type=int, default=4201, help="health endpoint of the flow-serving process"
    )
    parser.add_argument(
        "--schedule",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="replace a flow's schedule: a cron expression (UTC) or an interval such as 30s",
    )
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_packages()
        stack = plan(args)
    except StackwatchError as exc:
        print(f"stackwatch: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    stopping = False

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    started: list[Component] = []
    try:
        prepare(stack, args)
        for note in stack.notes:
            print(note, flush=True)  # noqa: T201
        for component in stack.components:
            print(f"starting {component.name} (log: {component.log_path})", flush=True)  # noqa: T201
            component.start()
            started.append(component)
            component.wait_ready()
            if stopping:
                return 130
        print("\nstackwatch is running:", flush=True)  # noqa: T201
        for label, url in stack.urls:
            print(f"  {label:<12} {url}")  # noqa: T201
        print(f"  {'State':<12} {stack.state_dir}\nPress Ctrl-C to stop.", flush=True)  # noqa: T201
        while not stopping:
            for component in started:
                if component.process is not None and component.process.poll() is not None:
                    raise LaunchError(
                        f"{component.name} exited with code {component.process.returncode}; "
                        f"last lines of {component.log_path}:\n{tail(component.log_path)}"
                    )
            time.sleep(0.5)
        return 0
    except LaunchError as exc:
        print(f"stackwatch: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        for component in reversed(started):
            print(f"stopping {component.name}", flush=True)  # noqa: T201
            component.stop()


if __name__ == "__main__":
    sys.exit(run())
