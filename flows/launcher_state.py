"""The running launcher's record under the state folder: one at a time, found by the CLI, stopped.

``launcher.lock`` is held (``flock``) for as long as the launcher runs, so a launcher that died,
even by SIGKILL, leaves no stale claim; ``launcher.json`` beside it says where its parts are.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from stackwatch.errors import StackwatchError
from stackwatch.install import checkout

LOCK = "launcher.lock"
RECORD = "launcher.json"
STATE_ENV = "STACKWATCH_STATE_DIR"


class AlreadyRunningError(StackwatchError):
    """Another launcher runs on this state folder."""


def default_state_dir() -> Path:
    return Path(os.environ.get(STATE_ENV) or "state")


@dataclass
class Running:
    """What a running launcher tells others: its pid, its URLs, the CLI's environment."""

    pid: int
    state_dir: str
    config: str | None
    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    ready: bool = False  # every part answers


def _try_lock(handle: IO[Any]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def read_running(state_dir: Path) -> Running | None:
    """The launcher running on ``state_dir``, or None when none holds its lock."""
    lock = state_dir / LOCK
    try:
        handle = lock.open("rb")
    except OSError:
        return None
    with handle:
        if _try_lock(handle):
            return None  # nobody holds it: no launcher runs here
    try:
        data = json.loads((state_dir / RECORD).read_text())
        return Running(**data)
    except (OSError, ValueError, TypeError):
        return Running(pid=0, state_dir=str(state_dir), config=None)  # starting, not yet written


class Claim:
    """The lock this launcher holds on its state folder for as long as it runs."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.handle = (state_dir / LOCK).open("ab")
        if not _try_lock(self.handle):
            self.handle.close()
            other = read_running(state_dir)
            pid = f" (pid {other.pid})" if other and other.pid else ""
            urls = other.urls if other else {}
            where = f"; Prefect UI at {urls['Prefect UI']}" if "Prefect UI" in urls else ""
            raise AlreadyRunningError(
                f"stackwatch is already running on {state_dir}{pid}{where}; "
                "stop it with `make stop` or use another --state-dir"
            )

    def publish(self, running: Running) -> None:
        path = self.state_dir / RECORD
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(running), out, indent=2)
        tmp.replace(path)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            (self.state_dir / RECORD).unlink()
        self.handle.close()


def stop_running(state_dir: Path, timeout: float = 90.0) -> str:
    """SIGTERM the launcher running on ``state_dir`` and wait until it let go of its lock."""
    running = read_running(state_dir)
    if running is None or not running.pid:
        return f"no stackwatch launcher is running on {state_dir}"
    os.kill(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while read_running(state_dir) is not None:
        if time.monotonic() > deadline:
            raise StackwatchError(
                f"the launcher (pid {running.pid}) did not stop within {timeout:.0f}s"
            )
        time.sleep(0.2)
    return f"stopped the stackwatch launcher (pid {running.pid}) on {state_dir}"


def find_local_stack() -> Running | None:
    """The stack ``make run`` runs: on ``$STACKWATCH_STATE_DIR`` or ./state, else the checkout's."""
    candidates = [default_state_dir()]
    if (root := checkout()) is not None:
        candidates.append(root / "state")
    for state_dir in candidates:
        running = read_running(state_dir)
        if running is not None and running.ready and running.env.get("PREFECT_API_URL"):
            return running
    return None
