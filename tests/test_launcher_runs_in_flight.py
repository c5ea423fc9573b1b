"""``make run`` killed outright mid-run (SIGKILL to it and every part, as a power cut or the
OOM killer would), then started again on the same state folder: the flow whose run was in flight
runs again.

That run is left Running in the Prefect database, holding its deployment's one-run-at-a-time
slot; the Prefect server that starts again has forgotten the lease on the slot, so nothing would
ever free it and every later run of that flow would be cancelled. (The flow runner killed alone
and restarted by the launcher is in test_launcher_watchdog.py.)

The real launcher, its real Prefect server and flow runner; ``system-health-check`` runs every
10 s here.
"""

from __future__ import annotations

import time
from datetime import datetime

import psutil
import pytest

from tests.support.launcher import Launcher, finished_runs, running_run
from tests.support.procs import wait_for
from tests.support.timing import within

FLOW = "system-health-check"


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_make_run_after_the_launcher_was_killed_mid_run_runs_the_checks_again(
    launcher: Launcher,
) -> None:
    launcher.start()
    assert launcher.process is not None
    run = running_run(launcher, FLOW)
    family = [psutil.Process(launcher.process.pid)]
    family += family[0].children(recursive=True)
    for process in family:
        process.kill()
    psutil.wait_procs(family, timeout=10)
    launcher.process = None

    started = time.time()
    launcher.start()  # the same state folder: the same Prefect database
    out = launcher.log()
    assert (
        f"flow run {run['name']} ({run['id']}), running when its flow runner or worker died:" in out
    )

    def completed() -> bool:
        return any(
            r["state_type"] == "COMPLETED"
            and datetime.fromisoformat(r["end_time"]).timestamp() > started
            for r in finished_runs(launcher, FLOW)
        )

    wait_for(completed, within(90), f"a {FLOW} run to complete after the restart", interval=1)
    state = launcher.api_get(f"/flow_runs/{run['id']}")["state"]
    assert state["type"] == "CRASHED", state
    assert state["message"] == (
        "Its flow runner or worker died while it was running; no process of it was left."
    )
