"""``make run`` with Prefect: a Prefect server on SQLite under the state folder and the flows.

The end-to-end test starts the real launcher (exporter, Prometheus, ``prefect server start`` and
the process serving all seven deployments), triggers a deployment through the Prefect API and
waits for the run to complete and its mail to land in the outbox; a second start reuses the
state.
"""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest
import requests

from flows.launcher import build_parser, plan, run
from stackwatch.catalog import FLOWS
from stackwatch.config import Config
from stackwatch.config.load import apply_overrides
from tests.support.launcher import REPO, Launcher, finished_runs, wait_for_run
from tests.support.procs import wait_for


def test_prefect_server_and_flows_agree_on_one_api_address(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "--state-dir",
            str(tmp_path / "state"),
            "--prefect-port",
            "14200",
            "--runner-port",
            "14201",
            "--schedule",
            "system-health-check=30s",
        ]
    )
    stack = plan(args)
    components = {c.name: c for c in stack.components}
    server, flows = components["prefect-server"], components["flows"]
    api = "http://127.0.0.1:14200/api"
    state = (tmp_path / "state").resolve()
    assert server.env["PREFECT_SERVER_API_PORT"] == "14200"
    assert server.env["PREFECT_UI_API_URL"] == api
    assert server.env["PREFECT_API_DATABASE_CONNECTION_URL"] == (
        f"sqlite+aiosqlite:///{state / 'prefect' / 'prefect.db'}"
    )
    assert server.env["PREFECT_HOME"] == flows.env["PREFECT_HOME"] == str(state / "prefect")
    assert flows.env["PREFECT_API_URL"] == api
    assert flows.env["STACKWATCH__SMTP__OUTBOX_DIR"] == str(state / "outbox")
    assert flows.argv[-2:] == ["--schedule", "system-health-check=30s"]
    assert flows.ready_url == "http://127.0.0.1:14201/health"
    assert stack.urls["Prefect UI"] == "http://127.0.0.1:14200"
    watchdog = components["watchdog"]
    assert watchdog.argv[3:] == ["watchdog", "--listen", f"127.0.0.1:{watchdog.port}"]
    assert watchdog.env["PREFECT_API_URL"] == api
    assert watchdog.env["STACKWATCH__STATE__PATH"] == flows.env["STACKWATCH__STATE__PATH"]
    # the watchdog judges the replaced schedule, not the catalogue's
    assert watchdog.env["STACKWATCH__WATCHDOG__INTERVALS__SYSTEM-HEALTH-CHECK"] == "30s"
    config = Config.model_validate(apply_overrides({}, watchdog.env))
    assert config.watchdog.intervals == {"system-health-check": 30.0}
    assert any("outbox folder" in note and str(state / "outbox") in note for note in stack.notes)


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_make_run_serves_the_flows_and_a_second_run_reuses_the_state(
    launcher: Launcher,
) -> None:
    launcher.start()
    out = launcher.log()
    for label, url in (
        ("Prefect UI", f"http://127.0.0.1:{launcher.ports['prefect']}"),
        ("Prometheus", launcher.prometheus),
        ("Metrics", f"http://127.0.0.1:{launcher.ports['exporter']}/metrics"),
    ):
        assert any(label in line and url in line for line in out.splitlines()), out
    outbox = launcher.state / "outbox"
    assert f"flows mail to outbox folder {outbox.resolve()}" in out

    # the UI's API address follows --prefect-port
    ui_settings = requests.get(
        f"{launcher.api.removesuffix('/api')}/ui-settings", timeout=10
    ).json()
    assert ui_settings["api_url"] == launcher.api

    deployments = launcher.api_post("/deployments/filter", {})
    assert len(deployments) == 7, [d["name"] for d in deployments]
    for deployment in deployments:  # what the server enforces: one run at a time
        assert deployment["global_concurrency_limit"]["limit"] == 1
        assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"

    # the rule needs the exporter scraped once before the check can fire
    wait_for(
        lambda: requests.get(
            f"{launcher.prometheus}/api/v1/query",
            params={"query": 'up{job="stackwatch"} == 1'},
            timeout=5,
        ).json()["data"]["result"],
        60,
        "Prometheus to scrape the exporter",
        interval=1,
    )
    # the launcher runs each check once at start: the run below must not meet that one
    wait_for(
        lambda: finished_runs(launcher, "threshold-alert-check"),
        120,
        "the start-up threshold-alert-check run to end",
        interval=1,
    )
    deployment = launcher.api_get("/deployments/name/threshold-alert-check/threshold-alert-check")
    # the key makes a retried request (after a 503) return the same run, not a second one
    run = launcher.api_post(
        f"/deployments/{deployment['id']}/create_flow_run",
        {"idempotency_key": f"e2e-{uuid.uuid4()}"},
    )
    finished = wait_for_run(launcher, run["id"])
    flows_log = launcher.state / "logs" / "flows.log"
    assert finished["state_type"] == "COMPLETED", (
        finished["state"],
        flows_log.read_text()[-4000:],
    )

    # one alert mail: from the start-up run if Prometheus had scraped by then, else from this
    # one (the start-up runs of the checks this config has no rules for may mail too)
    mails = {
        path: email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in outbox.glob("*.eml")
    }
    alert_mails = [
        path
        for path, message in mails.items()
        if "threshold-alert-check" in message["Subject"] and "ExporterScraped" in message["Subject"]
    ]
    assert len(alert_mails) == 1, [message["Subject"] for message in mails.values()]
    [mail_path] = alert_mails

    # the short schedule from the override runs system-health-check on its own
    scheduled = wait_for(
        lambda: launcher.api_post(
            "/flow_runs/filter",
            {
                "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
                "deployments": {"name": {"any_": ["system-health-check"]}},
            },
        ),
        90,
        "a scheduled system-health-check run to complete",
        interval=2,
    )
    assert scheduled
    # the API says Completed a moment before the run's process exits; stopping the runner
    # while that process is still up would cancel it, so wait for its last log line
    wait_for(
        lambda: (
            f"Flow run '{run['name']}' - Finished in state Completed()" in flows_log.read_text()
        ),
        30,
        "the triggered run's process to finish",
        interval=0.5,
    )
    assert launcher.stop() == 0

    # a second start finds the same runs, deployments and mail
    launcher.start()
    again = launcher.api_get(f"/flow_runs/{run['id']}")
    assert again["state_type"] == "COMPLETED"
    deployments = launcher.api_post("/deployments/filter", {})
    assert len(deployments) == 7
    # Ctrl-C paused the schedules; serving them again resumes them
    assert [d["name"] for d in deployments if d["paused"]] == []
    assert mail_path.exists()

    # `make stop` from another terminal stops it, and every part with it
    assert launcher.process is not None
    parts = psutil.Process(launcher.process.pid).children(recursive=True)
    stop = subprocess.run(
        [sys.executable, "-m", "flows.launcher", "--stop", "--state-dir", str(launcher.state)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout == (
        f"stopped the stackwatch launcher (pid {launcher.process.pid}) on {launcher.state}\n"
    )
    assert launcher.process.wait(timeout=30) == 0
    _, alive = psutil.wait_procs(parts, timeout=10)
    assert alive == []
    launcher.process = None


def test_make_stop_with_nothing_running_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--stop", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"no stackwatch launcher is running on {tmp_path}\n"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "system-health-check=often",
            "--schedule 'system-health-check=often': SPEC must be a cron expression or a "
            "duration like 30s",
        ),
        # the serving process's own check, made before anything starts
        (
            "system-health-check=0s",
            "--schedule 'system-health-check=0s': interval must be at least 1s",
        ),
        (
            "nightly-thing=30s",
            "--schedule 'nightly-thing=30s': expected NAME=SPEC with NAME one of "
            + ", ".join(spec.name for spec in FLOWS),
        ),
    ],
)
def test_a_bad_schedule_override_stops_the_launcher_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str, message: str
) -> None:
    code = run(["--state-dir", str(tmp_path / "state"), "--schedule", item])
    assert code == 2
    assert capsys.readouterr().err == f"stackwatch: {message}\n"
    assert not (tmp_path / "state").exists()
