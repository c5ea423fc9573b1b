"""The ``watchdog`` section: how often ``stackwatch watchdog`` looks, and when checks count as
stopped."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from stackwatch.config.base import Secret, Timeout, _Model
from stackwatch.config.values import Duration, HttpUrl, between


def _multiple(value: float) -> float:
    # under 1.5 one late run (a slow Prometheus, a busy worker) would already read as stopped
    if not 1.5 <= value <= 100:
        raise ValueError("must be between 1.5 and 100")
    return value


class WatchdogConfig(_Model):
    """When the watchdog mails that checks stopped: a group not evaluated for ``stale_after``
    times its flow's schedule interval, or the Prefect API unreachable for
    ``prefect_unreachable_after``."""

    interval: Annotated[Duration, between("1s", "1h")] = 60.0
    stale_after: Annotated[float, AfterValidator(_multiple)] = 3.0
    prefect_unreachable_after: Annotated[Duration, between("1s", "1d")] = 300.0
    # a check flow served on another schedule than the catalogue's (``--schedule``)
    intervals: dict[str, Annotated[Duration, between("1s", "366d")]] = Field(default_factory=dict)
    # a dead man's switch outside this server (healthchecks.io, Uptime Kuma push): pinged after
    # each check run; its URL holds a token, so it may be a secret reference
    heartbeat_url: HttpUrl | Secret | None = None
    heartbeat_fail_url: HttpUrl | Secret | None = None  # unset: heartbeat_url + "/fail"
    heartbeat_timeout: Timeout = 5.0
