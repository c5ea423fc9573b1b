"""``statvfs`` of mount points on a worker thread, so a hung network mount cannot hang a caller.

The exporter's filesystem metrics and the weekly cleanup's free-space figures both use it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

StatResult = os.statvfs_result | OSError


def statvfs(target: str) -> StatResult:
    """``os.statvfs``, its error returned instead of raised."""
    try:
        return os.statvfs(target)
    except OSError as exc:
        return exc


@dataclass
class _StatBatch:
    """The mounts one worker stats in order, what it has got so far and when its call began."""

    targets: list[str]
    results: dict[str, StatResult] = field(default_factory=dict)
    current: str | None = None
    call_started: float = 0.0
    abandoned: bool = False  # its current call got stuck: another worker has the rest


class MountStats:
    """``statvfs`` of many mount points, no call waited on longer than ``timeout``.

    The calls run in order on a worker thread. When one has been running for ``timeout``, its
    mount is marked stuck, a new worker goes on with the rest, and the blocked one is left to
    finish whenever it can: it unmarks the mount when it does, and then ends.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._changed = threading.Condition()
        self._stuck: set[str] = set()
        self._queue: queue.SimpleQueue[_StatBatch] | None = None

    @property
    def stuck(self) -> set[str]:
        with self._changed:
            return set(self._stuck)

    def _work(self, batches: queue.SimpleQueue[_StatBatch]) -> None:
        while True:
            batch = batches.get()
            for target in batch.targets:
                with self._changed:
                    batch.current, batch.call_started = target, time.monotonic()
                result = statvfs(target)
                with self._changed:
                    batch.results[target] = result
                    if target in self._stuck:
                        self._stuck.discard(target)
                        log.info("filesystem %s answers again", target)
                    if batch.abandoned:
                        return  # replaced by another worker
                    if len(batch.results) == len(batch.targets):
                        self._changed.notify_all()

    def _submit(self, batch: _StatBatch) -> None:
        if self._queue is None:
            self._queue = queue.SimpleQueue()
            worker = threading.Thread(
                target=self._work, args=(self._queue,), name="statvfs", daemon=True
            )
            worker.start()
        self._queue.put(batch)

    def _wait(self, batch: _StatBatch) -> str | None:
        """Wait, holding the condition, until the batch is done (None) or a call is stuck."""
        while len(batch.results) < len(batch.targets):
            if batch.current is not None and batch.current not in batch.results:
                remaining = batch.call_started + self.timeout - time.monotonic()
                if remaining <= 0:
                    return batch.current
            else:  # not started yet
                remaining = self.timeout
            self._changed.wait(remaining)
        return None

    def stat_all(self, targets: Sequence[str]) -> dict[str, StatResult]:
        """Results by target; stuck targets (and one that just got stuck) are absent."""
        results: dict[str, StatResult] = {}
        with self._changed:
            pending = [t for t in dict.fromkeys(targets) if t not in self._stuck]
            while pending:
                batch = _StatBatch(pending)
                self._submit(batch)
                blocked = self._wait(batch)
                results.update(batch.results)
                if blocked is None:
                    break
                batch.abandoned = True
                self._queue = None  # its worker is blocked: the next batch gets a new one
                self._stuck.add(blocked)
                log.warning(
                    "filesystem %s: statvfs blocked for over %gs (a hung network mount?); "
                    "skipped until it answers",
                    blocked,
                    self.timeout,
                )
                pending = [t for t in pending if t not in batch.results and t != blocked]
        return results
