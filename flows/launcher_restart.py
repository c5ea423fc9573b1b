"""A part of ``make run`` that dies once the stack is up is started again, with back-off, while
the other parts carry on: the watchdog keeps looking and mails when checks stay stopped."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flows.launcher_process import Component, LaunchError, signal_group, tail
from stackwatch.format import format_duration

#: the longest wait between two restarts of a part that keeps dying
MAX_DELAY = 300.0
#: a part that ran this long since its restart starts over from the first delay
STEADY = 600.0


@dataclass
class Backoff:
    """When to restart a part that died: ``first`` seconds after its first death, twice as long
    after each death within ``steady`` seconds of the restart before it, at most ``cap``."""

    first: float
    cap: float = MAX_DELAY
    steady: float = STEADY
    delay: float = 0.0  # the last wait chosen; 0 before any death
    restarts: int = 0

    def died(self, ran_for: float) -> float:
        """The wait before the next start, given how long the part ran since its last start."""
        if self.delay == 0.0 or ran_for >= self.steady:
            self.delay = self.first
        else:
            self.delay = min(max(self.cap, self.first), self.delay * 2)
        self.restarts += 1
        return self.delay


@dataclass
class Supervised:
    """One running part, when it last started and, once it died, when it starts again."""

    component: Component
    backoff: Backoff
    started_at: float = field(default_factory=time.monotonic)
    due: float | None = None  # restart time (monotonic) while it is down


class Supervisor:
    """Notices a part that exited, says so with its log's last lines, and starts it again."""

    def __init__(
        self, components: list[Component], first_delay: float, say: Callable[[str], None]
    ) -> None:
        self.parts = [Supervised(c, Backoff(first_delay)) for c in components]
        self.say = say

    def tick(self, stopping: Callable[[], bool], now: Callable[[], float] = time.monotonic) -> None:
        for part in self.parts:
            component = part.component
            process = component.process
            if part.due is None:
                if process is None or process.poll() is None:
                    continue
                # what it started in its group (a server's workers) would hold its port
                signal_group(process.pid, signal.SIGKILL)
                wait = part.backoff.died(now() - part.started_at)
                part.due = now() + wait
                self.say(
                    f"{component.name} exited with code {process.returncode}; restarting it in "
                    f"{format_duration(wait)} (restart {part.backoff.restarts}); last lines of "
                    f"{component.log_path}:\n{tail(component.log_path)}"
                )
            elif now() >= part.due and not stopping():
                self.restart(part, stopping, now)

    def restart(
        self, part: Supervised, stopping: Callable[[], bool], now: Callable[[], float]
    ) -> None:
        component = part.component
        for line in component.prepare():
            self.say(line)
        self.say(f"restarting {component.name} (log: {component.log_path})")
        component.start()
        part.started_at = now()
        part.due = None
        try:
            component.wait_ready(stopping)
        except LaunchError as exc:
            # not ready, or its port answered by another server: stop it, the next tick
            # notices the exit and waits longer
            self.say(f"{component.name} did not start again: {exc}")
            component.stop()
            return
        if not stopping() and component.process is not None:
            self.say(f"{component.name} is running again (pid {component.process.pid})")
