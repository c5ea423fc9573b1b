"""One launcher per state folder: the lock is held while it runs and goes with its process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.launcher_state import AlreadyRunningError, Claim, Running, read_running
from tests.support.procs import wait_for


def test_a_second_claim_on_the_same_folder_is_refused_naming_the_first(tmp_path: Path) -> None:
    first = Claim(tmp_path)
    first.publish(Running(4242, str(tmp_path), None, {"Prefect UI": "http://127.0.0.1:4300"}))
    with pytest.raises(AlreadyRunningError) as refused:
        Claim(tmp_path)
    assert str(refused.value) == (
        f"stackwatch is already running on {tmp_path} (pid 4242); Prefect UI at "
        "http://127.0.0.1:4300; stop it with `make stop` or use another --state-dir"
    )
    assert (tmp_path / "launcher.json").stat().st_mode & 0o077 == 0
    first.release()
    assert read_running(tmp_path) is None
    Claim(tmp_path).release()


def test_a_launcher_killed_outright_leaves_no_claim(tmp_path: Path) -> None:
    """SIGKILL gives no chance to clean up: the lock still goes with the process."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from flows.launcher_state import Claim;"
            f"claim = Claim(Path({str(tmp_path)!r})); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    assert read_running(tmp_path) is not None
    holder.kill()
    holder.wait()
    wait_for(lambda: read_running(tmp_path) is None, 10, "the lock to go with the process")
    Claim(tmp_path).release()
