"""``make run``'s watchdog end to end: the real launcher on scaled schedules, its flow runner and
its Prefect server stopped by PID, the watchdog's mail read from the outbox folder.

``system-health-check`` runs every 10 s and counts as stale after 5 of them (50 s); the
launcher restarts a part that died after ``--restart-delay`` (80 s here), so the part stays down
long enough for the watchdog to notice, and "start it again" is the launcher's own restart.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.store import AlertStore
from stackwatch.format import format_duration
from tests.support.launcher import Launcher, launcher_config, part, running_run
from tests.support.procs import require_binary, wait_for
from tests.support.timing import within

STALE = 50.0  # 5 x the 10 s schedule of system-health-check
RESTART_DELAY = 80.0
API_AFTER = 5.0


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    require_binary("prometheus", "prometheus")
    config = launcher_config(tmp_path)
    with config.open("a") as out:
        out.write(
            f"watchdog: {{interval: 1s, stale_after: {STALE / 10:g},"
            f" prefect_unreachable_after: {API_AFTER:g}s}}\n"
        )
    running = Launcher(tmp_path, config)
    yield running
    running.stop()


def watchdog_subjects(launcher: Launcher) -> list[str]:
    """The watchdog's mail in the outbox folder, oldest first."""
    paths = sorted((launcher.state / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime)
    subjects = [
        str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"])
        for p in paths
    ]
    return [s for s in subjects if s.startswith("[WATCHDOG]")]


def last_evaluation(launcher: Launcher, group: str) -> float | None:
    with AlertStore(launcher.state / "stackwatch.db") as store:
        return next((e.evaluated_at for e in store.evaluations() if e.group == group), None)


def wait_for_mails(launcher: Launcher, count: int, timeout: float, what: str) -> list[str]:
    return wait_for(
        lambda: (s := watchdog_subjects(launcher)) and len(s) >= count and s,
        timeout,
        what,
        interval=0.5,
    )


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_dead_runner_is_mailed_once_restarted_by_the_launcher_and_mailed_resumed_once(
    launcher: Launcher,
) -> None:
    launcher.start("--restart-delay", f"{RESTART_DELAY:g}s")
    # a scheduled run has evaluated the group since start-up: the watchdog sees it fresh
    first = wait_for(
        lambda: last_evaluation(launcher, "system-health-check"),
        within(90),
        "system-health-check to be evaluated",
        interval=1,
    )
    wait_for(
        lambda: (last_evaluation(launcher, "system-health-check") or 0) > first,
        within(60),
        "a second evaluation of system-health-check",
        interval=1,
    )
    assert watchdog_subjects(launcher) == []
    watchdog = part(launcher, "watchdog")
    runner = part(launcher, "flows.launcher_serve")

    # mid-run: the run's process goes with its runner, the run would hold its deployment's slot
    in_flight = running_run(launcher, "system-health-check")
    os.kill(runner.pid, signal.SIGKILL)
    killed = time.monotonic()
    [stopped] = wait_for_mails(
        launcher, 1, STALE + within(30), "the watchdog's checks-stopped mail"
    )
    assert stopped.startswith("[WATCHDOG] checks stopped: system-health-check, last run at ")
    assert stopped.endswith("Prefect API: reachable")
    assert time.monotonic() - killed < RESTART_DELAY  # seen while the runner was down
    out = launcher.log()
    delay = format_duration(RESTART_DELAY)
    assert f"flows exited with code -9; restarting it in {delay} (restart 1)" in out, out
    assert launcher.process is not None
    assert launcher.process.poll() is None  # the launcher and its other parts carry on
    assert part(launcher, "watchdog").pid == watchdog.pid

    # the launcher starts it again; its runs resume and so does the mail, once
    subjects = wait_for_mails(
        launcher, 2, RESTART_DELAY + within(150), "the watchdog's checks-resumed mail"
    )
    assert subjects == [stopped, "[WATCHDOG] checks resumed, Prefect API: reachable"]
    out = launcher.log()
    assert "flows is running again" in out
    assert (
        f"flow run {in_flight['name']} ({in_flight['id']}), running when its flow runner or"
        " worker died: marked Crashed, so its flow runs again"
    ) in out
    assert launcher.api_get(f"/flow_runs/{in_flight['id']}")["state_type"] == "CRASHED"
    assert part(launcher, "flows.launcher_serve").pid != runner.pid
    time.sleep(5)  # a few more looks: nothing more to say
    assert len(watchdog_subjects(launcher)) == 2
    assert part(launcher, "watchdog").pid == watchdog.pid


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_stopped_prefect_server_is_named_unreachable_while_the_runner_lives(
    launcher: Launcher,
) -> None:
    launcher.start("--restart-delay", f"{RESTART_DELAY:g}s")
    wait_for(
        lambda: last_evaluation(launcher, "system-health-check"),
        within(90),
        "system-health-check to be evaluated",
        interval=1,
    )
    runner = part(launcher, "flows.launcher_serve")
    server = part(launcher, "prefect server start")

    server.terminate()  # the Prefect server this test's launcher started
    server.wait(within(30))
    [stopped] = wait_for_mails(
        launcher, 1, API_AFTER + within(30), "the watchdog's mail about the Prefect API"
    )
    assert stopped.startswith("[WATCHDOG] checks stopped: ")
    assert "Prefect API: unreachable for " in stopped
    assert runner.is_running()
    assert part(launcher, "flows.launcher_serve").pid == runner.pid
    assert "prefect-server exited with code" in launcher.log()

    # the launcher starts the server again; the runner carries on and the checks resume
    subjects = wait_for_mails(
        launcher, 2, RESTART_DELAY + within(150), "the watchdog's checks-resumed mail"
    )
    assert subjects == [stopped, "[WATCHDOG] checks resumed, Prefect API: reachable"]
