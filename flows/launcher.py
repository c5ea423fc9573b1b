"""``make run``: start the whole stack locally, wait for each part, stop every part on Ctrl-C."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from flows.launcher_banner import banner, prometheus_links, run_checks_now
from flows.launcher_ports import free_port, port_taken, what_answers
from flows.launcher_process import Component, LaunchError
from flows.launcher_restart import Supervisor
from flows.launcher_state import Claim, Running, default_state_dir, stop_running
from flows.orphans import end_orphaned_runs
from flows.schedules import interval_of, parse_schedule_overrides
from stackwatch.config import config_path, load_config
from stackwatch.config.values import parse_duration
from stackwatch.errors import StackwatchError
from stackwatch.format import format_duration
from stackwatch.install import check_packages, data_path
from stackwatch.mail import Mailer

__all__ = ["Component", "LaunchError", "build_parser", "plan", "run"]


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
    config: Path | None = None  # the config file loaded; None: the defaults
    components: list[Component] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    cli_env: dict[str, str] = field(default_factory=dict)  # what the banner tells the CLI
    notes: list[str] = field(default_factory=list)  # printed before anything starts


def plan(args: argparse.Namespace) -> Stack:
    """Build the components from the arguments; nothing is started here."""
    state = Path(args.state_dir).resolve()
    logs = state / "logs"
    found = config_path(args.config)
    stack = Stack(state, found.resolve() if found else None)
    exporter_url = f"http://{args.exporter_listen}"
    prometheus_url = f"http://127.0.0.1:{args.prometheus_port}"
    stack.env = {
        "STACKWATCH__PROMETHEUS__URL": prometheus_url,
        "STACKWATCH__STATE__PATH": str(state / "stackwatch.db"),
        "STACKWATCH__SMTP__OUTBOX_DIR": str(state / "outbox"),
    }
    python = sys.executable
    config_args = ["--config", str(stack.config)] if stack.config else []
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
            port=int(args.exporter_listen.rsplit(":", 1)[1]),
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
            port=args.prometheus_port,
        )
    )
    stack.urls.update({"Prometheus": prometheus_url, "Metrics": f"{exporter_url}/metrics"})
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


def mail_destination(config: Path | None, state: Path) -> str:
    """Where the flows' mail goes: the configured SMTP server, else the outbox under state."""
    smtp = load_config(config).smtp
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
            port=args.prefect_port,
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
    if stack.config:
        flow_env["STACKWATCH_CONFIG"] = str(stack.config)
    # the CLI in another terminal: the same Prefect server, Prometheus, database and outbox
    stack.cli_env = {"PREFECT_API_URL": api_url, "PREFECT_UI_URL": ui_url, **stack.env}
    if stack.config:
        stack.cli_env["STACKWATCH_CONFIG"] = str(stack.config)
    flow_env.update(
        {
            "STACKWATCH__LINKS__PREFECT_UI_URL": ui_url,
            # the runner's own health endpoint tells the launcher it is polling for runs
            "PREFECT_RUNNER_SERVER_ENABLE": "true",
            "PREFECT_RUNNER_SERVER_HOST": "127.0.0.1",
            "PREFECT_RUNNER_SERVER_PORT": str(args.runner_port),
        }
    )
    # a bad one stops the launcher before anything starts
    overrides = parse_schedule_overrides(args.schedule)
    schedules = [arg for item in args.schedule for arg in ("--schedule", item)]
    stack.components.append(
        Component(
            "flows",
            [python, "-m", "flows.launcher_serve", *schedules],
            f"http://127.0.0.1:{args.runner_port}/health",
            stack.state_dir / "logs" / "flows.log",
            port=args.runner_port,
            env=flow_env,
            ready_timeout=120.0,
            # the runs a runner that died left in flight would hold their flows' slots
            before_start=lambda: end_orphaned_runs(api_url),
        )
    )
    # the watchdog reads the database and the API's /health, never Prefect's client
    stack.components.append(
        Component(
            "watchdog",
            [
                python,
                "-m",
                "stackwatch",
                "watchdog",
                *(["--config", str(stack.config)] if stack.config else []),
                "--listen",
                f"127.0.0.1:{args.watchdog_port}",
            ],
            f"http://127.0.0.1:{args.watchdog_port}/health",
            stack.state_dir / "logs" / "watchdog.log",
            port=args.watchdog_port,
            env={
                **stack.env,
                "PREFECT_API_URL": api_url,
                # a replaced schedule moves when a group counts as stale
                **{
                    f"STACKWATCH__WATCHDOG__INTERVALS__{name.upper()}": format_duration(
                        interval_of(spec)
                    )
                    for name, spec in overrides.items()
                },
            },
        )
    )
    stack.urls = {"Prefect UI": ui_url, **stack.urls}
    mail = mail_destination(stack.config, stack.state_dir)
    stack.urls["Mail"] = mail
    stack.notes.append(f"flows mail to {mail}")


PORTS = (
    ("exporter", "exporter_listen"),
    ("prometheus", "prometheus_port"),
    ("prefect-server", "prefect_port"),
    ("flows", "runner_port"),
    ("watchdog", "watchdog_port"),
)


def choose_ports(args: argparse.Namespace) -> list[str]:
    """Check each part's port before anything starts; a taken one is said (what answers there)
    and replaced by a free port, or stops the launcher with ``--taken-port stop``. The launcher
    never uses a server it did not start."""
    notes = []
    for name, attr in PORTS:
        value = getattr(args, attr)
        host, port = value.rsplit(":", 1) if isinstance(value, str) else ("127.0.0.1", value)
        port = int(port)
        if not port_taken(host, port):
            continue
        what = what_answers(host, port)
        if args.taken_port == "stop":
            raise LaunchError(f"{name}: {host}:{port} is taken by {what}; not starting")
        new = free_port(host)
        setattr(args, attr, f"{host}:{new}" if isinstance(value, str) else new)
        notes.append(f"{name}: {host}:{port} is taken by {what}; using {host}:{new} instead")
    return notes


def restart_delay(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if not 1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("must be between 1s and 1h")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flows.launcher",
        description="Start stackwatch locally: the exporter, Prometheus and the flows. "
        "State (Prometheus data, alert database, outbox, logs) lives in --state-dir and is "
        "reused by the next run. A part that dies once everything runs is started again. "
        "Ctrl-C, SIGTERM or SIGHUP stops everything.",
    )
    parser.add_argument("--config", help="stackwatch config file (default: ./stackwatch.yml)")
    parser.add_argument("--state-dir", default=str(default_state_dir()))
    parser.add_argument("--exporter-listen", default="127.0.0.1:9810", metavar="HOST:PORT")
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--prefect-port", type=int, default=4200, help="Prefect UI and API")
    parser.add_argument(
        "--runner-port", type=int, default=4201, help="health endpoint of the flow-serving process"
    )
    parser.add_argument(
        "--watchdog-port", type=int, default=4202, help="health endpoint of the watchdog"
    )
    parser.add_argument(
        "--taken-port",
        choices=("move", "stop"),
        default="move",
        help="when something else answers on a part's port: use a free port (printed) or stop",
    )
    parser.add_argument(
        "--schedule",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="replace a flow's schedule: a cron expression (UTC) or an interval such as 30s",
    )
    parser.add_argument(
        "--restart-delay",
        type=restart_delay,
        default=5.0,
        metavar="DURATION",
        help="once everything runs, a part that exits is started again after this long, "
        "twice as long each time it dies again soon, at most 5m (default 5s)",
    )
    parser.add_argument(
        "--stop", action="store_true", help="stop the launcher running on --state-dir (make stop)"
    )
    return parser


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    claim: Claim | None = None
    try:
        if args.stop:
            say(stop_running(Path(args.state_dir)))
            return 0
        check_packages()
        plan(args)  # a bad argument or config stops the launcher before anything is checked
        claim = Claim(Path(args.state_dir))
        notes = choose_ports(args)
        stack = plan(args)
    except StackwatchError as exc:
        if claim is not None:
            claim.release()
        print(f"stackwatch: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    try:
        return serve_stack(stack, args, claim, notes)
    finally:
        claim.release()


def serve_stack(stack: Stack, args: argparse.Namespace, claim: Claim, notes: list[str]) -> int:
    stopping = False

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    # closing the terminal (SIGHUP) stops everything as Ctrl-C and SIGTERM do
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handle)
    started: list[Component] = []
    config = str(stack.config) if stack.config else None
    # published at once, so a second `make run` during start-up names this one
    claim.publish(Running(os.getpid(), str(stack.state_dir), config, stack.urls, stack.cli_env))
    try:
        prepare(stack, args)
        for note in [*notes, *stack.notes]:
            say(note)
        for component in stack.components:
            for line in component.prepare():
                say(line)
            say(f"starting {component.name} (log: {component.log_path})")
            component.start()
            started.append(component)
            component.wait_ready(lambda: stopping)
            if stopping:
                return 130
        api = stack.cli_env["PREFECT_API_URL"]
        say(run_checks_now(api))
        urls = {**prometheus_links(stack.urls.pop("Prometheus")), **stack.urls}
        urls = {"Prefect UI": urls.pop("Prefect UI"), **urls}
        claim.publish(
            Running(os.getpid(), str(stack.state_dir), config, urls, stack.cli_env, ready=True)
        )
        say(banner(urls, stack.cli_env, str(stack.state_dir), config))
        # from here on a part that dies is started again; the others carry on
        supervisor = Supervisor(started, args.restart_delay, say)
        while not stopping:
            supervisor.tick(lambda: stopping)
            time.sleep(0.5)
        return 0
    except LaunchError as exc:
        print(f"stackwatch: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        for component in reversed(started):
            say(f"stopping {component.name}: {component.stop()}")


if __name__ == "__main__":
    sys.exit(run())
