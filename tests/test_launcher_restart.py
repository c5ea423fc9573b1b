"""The launcher's restart of a part that died: the back-off, and a real child process (a small
HTTP server) killed by PID and started again on its port while another part runs on."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from flows.launcher_process import Component
from flows.launcher_restart import MAX_DELAY, STEADY, Backoff, Supervisor
from tests.support.procs import free_port, wait_for
from tests.support.timing import within


def test_the_wait_doubles_while_a_part_keeps_dying_and_starts_over_once_it_ran_steadily() -> None:
    backoff = Backoff(5.0)
    waits = [backoff.died(ran_for=2.0) for _ in range(9)]
    assert waits == [5, 10, 20, 40, 80, 160, MAX_DELAY, MAX_DELAY, MAX_DELAY]
    assert backoff.died(ran_for=STEADY) == 5.0
    assert backoff.restarts == 10
    # a first wait longer than the cap is kept, never shortened
    assert Backoff(600.0).died(1.0) == Backoff(600.0).died(1.0) == 600.0


def _server(tmp_path: Path, name: str) -> Component:
    port = free_port()
    return Component(
        name,
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        f"http://127.0.0.1:{port}/",
        tmp_path / f"{name}.log",
        port=port,
        env={},
        ready_timeout=within(20),
    )


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[list[Component]]:
    (tmp_path / "index.html").write_text("ok")
    started = [_server(tmp_path, "web"), _server(tmp_path, "other")]
    for component in started:
        component.start()
        component.wait_ready(lambda: False)
    yield started
    for component in started:
        component.stop()


def test_a_killed_part_is_said_and_started_again_while_the_others_run_on(
    parts: list[Component],
) -> None:
    web, other = parts
    web.before_start = lambda: ["what the last web left behind is cleared"]
    said: list[str] = []
    supervisor = Supervisor(parts, 1.0, said.append)
    assert web.process is not None
    assert other.process is not None
    first, neighbour = web.process.pid, other.process.pid
    supervisor.tick(lambda: False)
    assert said == []

    os.kill(first, signal.SIGKILL)
    web.process.wait(within(5))
    supervisor.tick(lambda: False)
    assert said[0].startswith("web exited with code -9; restarting it in 1s (restart 1); last")
    began = time.monotonic()
    wait_for(
        lambda: supervisor.tick(lambda: False) or (len(said) >= 4 and said),
        within(20),
        "the part to start again",
        interval=0.2,
    )
    assert time.monotonic() - began >= 0.5  # it waited for the back-off
    # what is done before each start comes before the restart
    assert said[1] == "what the last web left behind is cleared"
    assert said[2] == f"restarting web (log: {web.log_path})"
    assert said[3] == f"web is running again (pid {web.process.pid})"
    assert web.process.pid != first
    assert requests.get(web.ready_url, timeout=5).status_code == 200
    assert other.process.pid == neighbour
    assert other.process.poll() is None

    # dying again soon after: twice the wait
    os.kill(web.process.pid, signal.SIGKILL)
    web.process.wait(within(5))
    supervisor.tick(lambda: False)
    assert said[4].startswith("web exited with code -9; restarting it in 2s (restart 2)")


def test_nothing_is_restarted_while_the_launcher_stops(parts: list[Component]) -> None:
    web = parts[0]
    said: list[str] = []
    supervisor = Supervisor(parts, 1.0, said.append)
    assert web.process is not None
    web.process.send_signal(signal.SIGTERM)
    web.process.wait(within(5))
    supervisor.tick(lambda: True)
    time.sleep(1.2)
    supervisor.tick(lambda: True)
    assert len(said) == 1
    assert web.process.poll() is not None
