"""``--schedule NAME=SPEC`` overrides (a cron expression or an interval) for launcher and serve,
and the run timeouts that follow from them."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import timedelta

from stackwatch.catalog import BY_NAME, FlowSpec
from stackwatch.config import parse_duration
from stackwatch.cron import shortest_interval
from stackwatch.errors import ConfigError

# The overrides ``flows.serve`` was given, one NAME=SPEC a line. Prefect's runner starts each
# run in a new process with the serving process's environment, and that process imports the
# flows anew: this is how their run timeouts learn the schedule they run on.
OVERRIDES_ENV = "STACKWATCH_SCHEDULE_OVERRIDES"

# A cron expression (UTC), or the interval between runs. Parsed without Prefect, so that the
# launcher refuses a bad override before anything starts.
ScheduleSpec = str | timedelta


class ScheduleError(ConfigError):
    """A schedule that is neither a cron expression nor a usable interval."""


def parse_schedule_spec(text: str) -> ScheduleSpec:
    """A cron expression (five fields, UTC) or an interval like ``30s`` / ``5m``."""
    if len(text.split()) == 5:
        try:
            shortest_interval(text)  # the run timeout is derived from it
        except ValueError as exc:
            raise ScheduleError(f"invalid cron expression: {exc}") from None
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


def interval_of(spec: ScheduleSpec) -> float:
    """Seconds between the two closest runs of a schedule."""
    return shortest_interval(spec) if isinstance(spec, str) else spec.total_seconds()


def export_overrides(items: Sequence[str], environ: MutableMapping[str, str]) -> None:
    """Hand the ``--schedule`` items on to the runs started from this process."""
    if items:
        environ[OVERRIDES_ENV] = "\n".join(items)
    else:
        environ.pop(OVERRIDES_ENV, None)


def run_timeout(spec: FlowSpec, environ: Mapping[str, str] | None = None) -> float:
    """The run timeout of ``spec`` on the schedule it runs on: the catalogue's, or the one
    ``flows.serve --schedule`` put in its place (handed on in ``OVERRIDES_ENV``)."""
    text = (os.environ if environ is None else environ).get(OVERRIDES_ENV, "")
    overrides = parse_schedule_overrides([line for line in text.splitlines() if line])
    override = overrides.get(spec.name)
    return spec.run_timeout if override is None else spec.run_timeout_every(interval_of(override))
