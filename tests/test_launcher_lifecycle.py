"""``make run`` on the user's server: it uses no server it did not start, it says how to reach it,
it runs one at a time, and however it ends (SIGHUP, SIGKILL) it leaves no process behind.

The real launcher starts every part (exporter, Prometheus, the Prefect server, the flows). The
servers already on its ports are real too: a Prometheus and the tests' Prefect server.
"""

from __future__ import annotations

import email
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import requests

from stackwatch.catalog import FLOWS
from tests.support.launcher import REPO, Launcher, finished_runs
from tests.support.procs import wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within

CHECKS = [spec.name for spec in FLOWS if spec.kind == "check"]


def family(pid: int) -> list[psutil.Process]:
    """The process and everything below it."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def gone(processes: list[psutil.Process]) -> list[int]:
    """PIDs of ``processes`` still running (a zombie awaiting its reaper counts as gone)."""
    left = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                left.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return left


def wait_all_gone(processes: list[psutil.Process], seconds: float, what: str) -> None:
    try:
        wait_for(lambda: not gone(processes), within(seconds), what, interval=0.2)
    except AssertionError:
        left = [p for p in processes if p.pid in gone(processes)]
        raise AssertionError(f"left running: {[(p.pid, p.cmdline()[:4]) for p in left]}") from None
    finally:
        for pid in gone(processes):
            os.kill(pid, signal.SIGKILL)


def runs_outside_deployments(launcher: Launcher, flow: str) -> list[object]:
    """The runs of ``flow`` not made from its deployment: ``flows run`` runs it in-process."""
    body = {
        "flows": {"name": {"any_": [flow]}},
        "flow_runs": {"deployment_id": {"is_null_": True}},
    }
    runs: list[object] = launcher.api_post("/flow_runs/filter", body)
    return runs


def banner_value(log: str, label: str) -> str:
    match = re.search(rf"^  {re.escape(label)}\s+(\S+)", log, re.MULTILINE)
    assert match, (label, log)
    return match.group(1)


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_the_launcher_uses_no_foreign_server_says_how_to_reach_it_and_stops_on_sighup(
    launcher: Launcher,
    tmp_path: Path,
    start_prometheus: Callable[..., PrometheusServer],
    prefect_api: str,
) -> None:
    # someone else's Prometheus and Prefect server already answer on the launcher's ports
    foreign_prometheus = start_prometheus(["127.0.0.1:9"])
    foreign_prefect = prefect_api.removesuffix("/api")
    launcher.ports["prometheus"] = foreign_prometheus.port
    launcher.ports["prefect"] = int(foreign_prefect.rsplit(":", 1)[1])
    deployments_before = requests.post(f"{prefect_api}/deployments/filter", json={}, timeout=10)
    launcher.start()
    log = launcher.log()

    # each taken port is named with what answers there, and a free one is used instead
    for name, port, what in (
        ("prometheus", launcher.ports["prometheus"], "Prometheus 2."),
        ("prefect-server", launcher.ports["prefect"], "a Prefect server"),
    ):
        prefix = f"{name}: 127.0.0.1:{port} is taken by {what}"
        line = next((line for line in log.splitlines() if line.startswith(prefix)), log)
        assert re.search(r", pid \d+: .+; using 127\.0\.0\.1:\d+ instead$", line), line
    # the tests' Prefect server got none of the launcher's deployments
    deployments_after = requests.post(f"{prefect_api}/deployments/filter", json={}, timeout=10)
    assert deployments_after.json() == deployments_before.json()
    ui = banner_value(log, "Prefect UI")
    assert ui != f"http://127.0.0.1:{launcher.ports['prefect']}"
    api = f"{ui}/api"
    launcher.api = api

    # the banner names the config and the CLI's environment
    assert banner_value(log, "Config") == str(launcher.config.resolve())
    assert f"  export PREFECT_API_URL={api}" in log.splitlines()

    # the checks ran once at start: the UI shows a finished run of each within a minute
    for flow in CHECKS:
        wait_for(lambda flow=flow: finished_runs(launcher, flow), within(60), f"a {flow} run")

    # every Prometheus link printed answers on the Prometheus installed here
    prometheus_links = [
        banner_value(log, label) for label in ("Prometheus", "Targets", "Alerts", "Rules")
    ]
    for url in prometheus_links:
        assert requests.get(url, timeout=10).status_code == 200, url

    # a second launcher on the same state folder says one runs, and starts nothing
    second = subprocess.run(
        [sys.executable, "-m", "flows.launcher", "--state-dir", str(launcher.state)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=within(60),
        check=False,
    )
    assert second.returncode != 0
    assert second.stderr.strip() == (
        f"stackwatch: stackwatch is already running on {launcher.state} "
        f"(pid {launcher.process.pid}); Prefect UI at {ui}; "  # type: ignore[union-attr]
        "stop it with `make stop` or use another --state-dir"
    )
    assert "starting" not in second.stdout

    # `stackwatch flows run` with no PREFECT_API_URL finds this stack by itself
    assert runs_outside_deployments(launcher, "system-health-check") == []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "STACKWATCH"))}
    env.update(
        STACKWATCH_STATE_DIR=str(launcher.state), PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false"
    )
    cli = subprocess.run(
        [sys.executable, "-m", "stackwatch", "flows", "run", "system-health-check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=within(120),
        check=False,
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert (
        f"using the stackwatch stack started by `make run` (Prefect API {api}, state " in cli.stderr
    )
    assert json.loads(cli.stdout)
    assert len(runs_outside_deployments(launcher, "system-health-check")) == 1

    # closing the terminal: SIGHUP stops every part
    assert launcher.process is not None
    processes = family(launcher.process.pid)
    assert len(processes) >= 5, processes
    launcher.process.send_signal(signal.SIGHUP)
    stopped = time.monotonic()
    wait_all_gone(processes, 30, "every part to stop after SIGHUP")
    print(f"stopped in {time.monotonic() - stopped:.1f}s")
    stops = [line for line in launcher.log().splitlines() if line.startswith("stopping ")]
    assert len(stops) == 5, stops  # exporter, prometheus, prefect-server, flows, watchdog
    assert not [line for line in stops if "killed" in line], stops  # each obeyed SIGTERM
    launcher.process = None
    assert not (launcher.state / "launcher.json").exists()


def example_config(tmp_path: Path, launcher: Launcher) -> Path:
    """``stackwatch.example.yml`` as it is, but for the two ports ``make run`` uses by default,
    which this test's launcher moves to free ones; its rules are the repo's."""
    text = (REPO / "stackwatch.example.yml").read_text()
    text = text.replace("127.0.0.1:4200/", f"127.0.0.1:{launcher.ports['prefect']}/")
    text = text.replace("127.0.0.1:9090/", f"127.0.0.1:{launcher.ports['prometheus']}/")
    (tmp_path / "rules").symlink_to(REPO / "rules")  # rules.paths, from either folder
    path = tmp_path / "example.yml"
    path.write_text(text)
    return path


def query(launcher: Launcher, expr: str) -> list[dict[str, object]]:
    response = requests.get(
        f"{launcher.prometheus}/api/v1/query", params={"query": expr}, timeout=10
    )
    result: list[dict[str, object]] = response.json()["data"]["result"]
    return result


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_the_example_config_runs_clean_and_sigkill_of_the_launcher_leaves_no_child(
    launcher: Launcher, tmp_path: Path
) -> None:
    launcher.config = example_config(tmp_path, launcher)
    launcher.start()
    log = launcher.log()
    assert "flows mail to outbox folder" in log  # no relay that is not there

    # what the example probes and collects is there: once the stack is up (the first probes
    # ran before the Prefect server answered), nothing fails, so nothing is going to be mailed
    def clean() -> bool:
        probes = query(launcher, "probe_success")
        failing = query(launcher, "probe_success == 0 or stackwatch_scrape_collector_success == 0")
        return len(probes) == 2 and not failing

    wait_for(clean, within(60), "every probe and collector of the example to succeed", interval=1)
    for flow in CHECKS:
        wait_for(lambda flow=flow: finished_runs(launcher, flow), within(60), f"a {flow} run")
    mailed = {
        path.name: email.message_from_bytes(path.read_bytes())["Subject"]
        for path in (launcher.state / "outbox").glob("*.eml")
    }
    assert mailed == {}, f"the example mailed: {mailed}\n{launcher.log()}"

    assert launcher.process is not None
    processes = family(launcher.process.pid)
    assert len(processes) >= 5, processes
    launcher.process.kill()
    launcher.process.wait()
    wait_all_gone(processes[1:], 20, "every part to die with the launcher")
    launcher.process = None


def test_a_taken_port_stops_the_launcher_when_asked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    start_prometheus: Callable[..., PrometheusServer],
) -> None:
    from flows.launcher import run

    foreign = start_prometheus(["127.0.0.1:9"])
    assert foreign.process is not None
    args = ["--state-dir", str(tmp_path / "state"), "--prometheus-port", str(foreign.port)]
    code = run([*args, "--taken-port", "stop"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"stackwatch: prometheus: 127.0.0.1:{foreign.port} is taken by Prometheus 2."
    ), err
    assert f", pid {foreign.process.pid}: {foreign.binary} --config.file=" in err
    assert err.endswith("; not starting\n")
    assert not (tmp_path / "state" / "logs").exists()  # nothing started


def test_flows_run_with_no_prefect_server_says_so_in_one_line(tmp_path: Path) -> None:
    """No PREFECT_API_URL and no `make run`: one line, not a temporary server and a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "STACKWATCH"))}
    env.update(STACKWATCH_STATE_DIR=str(tmp_path / "state"), PREFECT_HOME=str(tmp_path / "home"))
    result = subprocess.run(
        [sys.executable, "-m", "stackwatch", "flows", "run", "system-health-check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=within(60),
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr == (
        "stackwatch: no Prefect server to record the run: start `make run`, or set "
        "PREFECT_API_URL (e.g. export PREFECT_API_URL=http://127.0.0.1:4200/api)\n"
    )
