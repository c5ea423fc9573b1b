"""The flow-serving process as ``make run`` runs it: ``flows.serve`` that ends with the launcher.

Prefect's runner answers SIGTERM with a graceful shutdown that talks to the Prefect server: it
cancels the runs in flight and pauses each deployment's schedule. When the launcher dies (even
by SIGKILL) the kernel sends SIGTERM to every part at once, the Prefect server goes first, and
each of those calls retries against a server that is gone: the process lingered for minutes.
So once the launcher is gone, the shutdown gets ``GRACE`` seconds, then the process and the
flow runs it started end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

from flows.launcher_process import descendants
from flows.serve import main as serve

GRACE = 10.0


def end_after_launcher(launcher: int, grace: float = GRACE, poll: float = 0.5) -> None:
    """Wait for the launcher to go, give the runner ``grace`` seconds, then end it all."""
    while os.getppid() == launcher:
        time.sleep(poll)
    time.sleep(grace)
    for pid in descendants(os.getpid()):  # flow runs, in sessions of their own or not
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    watchdog = threading.Thread(target=end_after_launcher, args=(os.getppid(),), daemon=True)
    watchdog.start()
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
