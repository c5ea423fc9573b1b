"""The ``watchdog`` section: how often ``stackwatch watchdog`` looks, and when checks count as
stopped."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from stackwatch.config.base import _Model
from stackwatch.config.values import Duration, between


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

    @model_validator(mode="before")
    @classmethod
    def _heartbeat_moved(cls, data: Any) -> Any:
        moved = (
            [k for k in data if str(k).startswith("heartbeat_")] if isinstance(data, dict) else []
        )
        if moved:
            raise ValueError(f"{moved[0]} is notify.{moved[0]} now: move it to the notify section")
        return data
