"""The background loop of collectors that serve the latest result of work done off the scrape."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RefreshLoop:
    """Runs ``refresh`` at once and then every ``interval`` seconds on a daemon thread.

    The interval runs from the start of one refresh to the start of the next; a refresh that
    takes longer is followed at once by the next. ``refresh`` records its own failures for the
    scrape to report: the loop neither retries nor catches.
    """

    def __init__(
        self, name: str, interval: float, refresh: Callable[[], None], join_timeout: float
    ) -> None:
        self.name = name
        self.interval = interval
        self.join_timeout = join_timeout
        self._refresh = refresh
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            # each thread has its own stop event: one that outlived close() stays stopped
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name=self.name, daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Ask the loop to stop after the refresh in progress, without waiting for it."""
        self._stop.set()

    def close(self) -> None:
        """Stop after the refresh in progress, waiting for it at most ``join_timeout``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout)
            self._thread = None

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            self._refresh()
            stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
