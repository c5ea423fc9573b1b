"""``--schedule NAME=SPEC`` overrides (a cron expression or an interval) for launcher and serve."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from stackwatch.catalog import BY_NAME
from stackwatch.config import parse_duration
from stackwatch.errors import ConfigError

# A cron expression (UTC), or the interval between runs. Parsed without Prefect, so that the
# launcher refuses a bad override before anything starts.
ScheduleSpec = str | timedelta


class ScheduleError(ConfigError):
    """A schedule that is neither a cron expression nor a usable interval."""


def parse_schedule_spec(text: str) -> ScheduleSpec:
    """A cron expression (five fields, UTC) or an interval like ``30s`` / ``5m``."""
    if len(text.split()) == 5:
        return text
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ScheduleError("SPEC must be a cron expression or a duration like 30s") from exc
    if seconds < 1:
        raise ScheduleError("interval must be at least 1s")
    return timedelta(seconds=seconds)


def parse_schedule_overrides(items: Sequence[str]) -> dict[str, ScheduleSpec]:
    """``NAME=SPEC`` pairs from the command line, checked against the catalogue."""
    overrides: dict[str, ScheduleSpec] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or name not in BY_NAME:
            raise ConfigError(
                f"--schedule {item!r}: expected NAME=SPEC with NAME one of {', '.join(BY_NAME)}"
            )
        try:
            overrides[name] = parse_schedule_spec(spec)
        except ScheduleError as exc:
            raise ConfigError(f"--schedule {item!r}: {exc}") from None
    return overrides
