"""Which flow runs still have a process here, read from /proc as the launcher reads it, and what
the launcher says when it cannot ask its Prefect server (the ending of runs left in flight is
shown end to end in test_launcher_runs_in_flight.py)."""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any

import pytest

from flows.orphans import end_orphaned_runs, live_flow_runs, main
from tests.support.launcher import retrying_session
from tests.support.procs import free_port


def test_a_flow_run_has_a_process_while_one_holds_its_id_and_none_once_it_ended() -> None:
    run_id = str(uuid.uuid4())
    child = subprocess.Popen(["sleep", "60"], env={**os.environ, "PREFECT__FLOW_RUN_ID": run_id})
    try:
        assert run_id in live_flow_runs()
    finally:
        child.kill()
        child.wait()
    assert run_id not in live_flow_runs()


def test_a_prefect_server_that_does_not_answer_is_said_in_one_line() -> None:
    api = f"http://127.0.0.1:{free_port()}/api"
    lines = end_orphaned_runs(api, live=set, timeout=2)
    assert len(lines) == 1
    assert lines[0].startswith("could not look for flow runs left in flight by the last runner: ")


@pytest.mark.integration
@pytest.mark.usefixtures("own_flow_runs")
def test_only_the_pools_runs_with_no_process_are_ended(prefect_api: str) -> None:
    """A real Prefect server: two work pools' deployments, runs set Running by hand."""

    session = retrying_session()

    def post(path: str, body: dict[str, Any]) -> Any:
        response = session.post(f"{prefect_api}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    tag = uuid.uuid4().hex[:8]
    flow = post("/flows/", {"name": f"orphan-probe-{tag}"})
    runs: dict[str, str] = {}
    for pool in ("ours", "theirs"):
        post("/work_pools/", {"name": f"{pool}-{tag}", "type": "process"})
        deployment = post(
            "/deployments/",
            {"name": pool, "flow_id": flow["id"], "work_pool_name": f"{pool}-{tag}"},
        )
        for which in ("gone", "alive"):
            run = post(f"/deployments/{deployment['id']}/create_flow_run", {})
            post(f"/flow_runs/{run['id']}/set_state", {"state": {"type": "RUNNING"}, "force": True})
            runs[f"{pool}-{which}"] = run["id"]

    lines = end_orphaned_runs(prefect_api, f"ours-{tag}", live=lambda: {runs["ours-alive"]})

    def state(key: str) -> dict[str, Any]:
        found: dict[str, Any] = session.get(
            f"{prefect_api}/flow_runs/{runs[key]}", timeout=10
        ).json()["state"]
        return found

    assert state("ours-gone")["type"] == "CRASHED"
    assert state("ours-gone")["message"] == (
        "Its flow runner or worker died while it was running; no process of it was left."
    )
    assert {key: state(key)["type"] for key in ("ours-alive", "theirs-gone", "theirs-alive")} == {
        "ours-alive": "RUNNING",
        "theirs-gone": "RUNNING",
        "theirs-alive": "RUNNING",
    }
    [line] = lines
    assert line.endswith(
        f"({runs['ours-gone']}), running when its flow runner or worker died: marked Crashed,"
        " so its flow runs again"
    )


def test_without_a_prefect_api_url_the_command_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["--work-pool", "stackwatch"]) == 2
    assert capsys.readouterr().err == (
        "stackwatch: PREFECT_API_URL is not set: no Prefect server to ask\n"
    )
