"""The launcher's child processes: each dies with the launcher and is stopped with its group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from flows.launcher_ports import listening_pids
from stackwatch.errors import StackwatchError
from stackwatch.install import checkout
from stackwatch.private import open_private_append

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class LaunchError(StackwatchError):
    """A component did not start."""


def die_with(parent: int) -> Callable[[], None]:
    """The child's set-up: when the launcher dies, even by SIGKILL, the kernel sends SIGTERM."""
    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            os._exit(127)
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os._exit(1)

    return setup


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc (their parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name in parentheses may hold spaces: the fields follow the last ")"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Component:
    """One child process, with the URL that answers 200 once it is ready and the port it owns."""

    name: str
    argv: list[str]
    ready_url: str
    log_path: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0
    process: subprocess.Popen[bytes] | None = None
    #: work done before each start (the first and every restart); returns lines to say
    before_start: Callable[[], list[str]] | None = None

    def prepare(self) -> list[str]:
        return self.before_start() if self.before_start is not None else []

    def start(self) -> None:
        with open_private_append(self.log_path) as log:
            self.process = subprocess.Popen(  # noqa: S603 - argv built by the launcher
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=checkout(),  # installed: the caller's folder, as relative paths expect
                # its own group: Ctrl-C reaches the launcher, which stops the parts in order,
                # and stopping a part reaches the processes it started
                start_new_session=True,
                preexec_fn=die_with(os.getpid()),  # safe: the launcher runs no other thread
            )

    def wait_ready(self, stopping: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline and not stopping():
            self.check_running("while starting")
            try:
                answered = requests.get(self.ready_url, timeout=2).status_code == 200
            except requests.RequestException:
                answered = False
            if answered:
                self.check_owner()
                return
            time.sleep(0.5)
        if stopping():
            return
        raise LaunchError(
            f"{self.name} not ready at {self.ready_url} after {self.ready_timeout:.0f}s; "
            f"last lines of {self.log_path}:\n{tail(self.log_path)}"
        )

    def check_owner(self) -> None:
        """What answered is this component, not a server that took the port meanwhile."""
        if self.process is None:
            return
        ours = {self.process.pid} | descendants(self.process.pid)
        owners = listening_pids(self.port)
        if owners and not owners & ours:
            raise LaunchError(
                f"{self.name}: port {self.port} is answered by pid "
                f"{', '.join(map(str, sorted(owners)))}, a process stackwatch did not start"
            )

    def check_running(self, when: str = "") -> None:
        if self.process is not None and self.process.poll() is not None:
            raise LaunchError(
                f"{self.name} exited with code {self.process.returncode}"
                f"{' ' + when if when else ''}; last lines of {self.log_path}:\n"
                f"{tail(self.log_path)}"
            )

    def stop(self, timeout: float = 20.0) -> str:
        """SIGTERM to its group, SIGKILL after ``timeout``; then any descendant left behind.
        Returns how it went, for the user."""
        if self.process is None:
            return "not started"
        pid = self.process.pid
        below = descendants(pid)
        began = time.monotonic()
        outcome = "had exited"
        if self.process.poll() is None:
            signal_group(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
                outcome = f"stopped in {time.monotonic() - began:.1f}s"
            except subprocess.TimeoutExpired:
                signal_group(pid, signal.SIGKILL)
                self.process.wait()
                outcome = f"killed: still running {timeout:.0f}s after SIGTERM"
        # a process of its own session (a flow run) does not get the group's signal
        deadline = time.monotonic() + 5
        while (left := [p for p in below if alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        for child in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        return outcome


def signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal the process group that ``pid`` leads (it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
