"""One process serving all seven deployments on their schedules (``make run`` starts it).

``python -m flows.serve [--schedule NAME=SPEC]...``: SPEC is a cron expression (UTC) or an
interval such as ``30s``, replacing that flow's schedule (for trying things out and for tests).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, cast

from prefect import Flow, serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval, Schedule

from stackwatch.catalog import BY_NAME, FLOWS, TIMEZONE, FlowSpec
from stackwatch.config import parse_duration
from stackwatch.errors import ConfigError


def load_flow(spec: FlowSpec) -> Flow[..., Any]:
    """The flow object behind a catalog entry."""
    flow: Flow[..., Any] = getattr(importlib.import_module(spec.module), spec.function)
    return flow


def parse_schedule(text: str) -> Schedule:
    """A cron expression (five fields, UTC) or an interval like ``30s`` / ``5m``."""
    if len(text.split()) == 5:
        return Cron(text, timezone=TIMEZONE)
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"schedule {text!r}: not a cron expression nor a duration") from exc
    if seconds < 1:
        raise ConfigError(f"schedule {text!r}: interval must be at least 1s")
    return Interval(timedelta(seconds=seconds), timezone=TIMEZONE)


def parse_overrides(items: Sequence[str]) -> dict[str, Schedule]:
    """``NAME=SPEC`` pairs from the command line, checked against the catalog."""
    overrides: dict[str, Schedule] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or name not in BY_NAME:
            raise ConfigError(
                f"--schedule {item!r}: expected NAME=SPEC with NAME one of {', '.join(BY_NAME)}"
            )
        overrides[name] = parse_schedule(spec)
    return overrides


def concurrency() -> ConcurrencyLimitConfig:
    """One run per deployment at a time: a run due while one is going is cancelled."""
    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def build_deployments(overrides: Mapping[str, Schedule] | None = None) -> list[RunnerDeployment]:
    """The seven deployments, named like their flows, with their schedules and limits."""
    overrides = overrides or {}
    deployments = []
    for spec in FLOWS:
        schedule = overrides.get(spec.name) or Cron(spec.cron, timezone=TIMEZONE)
        deployment = load_flow(spec).to_deployment(
            name=spec.name,
            schedules=[schedule],
            paused=False,
            concurrency_limit=concurrency(),
            tags=spec.tags,
            description=spec.description,
        )
        # to_deployment dispatches on the calling context: here it is synchronous
        deployments.append(cast(RunnerDeployment, deployment))
    return deployments


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__)
    parser.add_argument(
        "--schedule",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="replace a flow's schedule with a cron expression or an interval such as 30s",
    )
    args = parser.parse_args(argv)
    try:
        deployments = build_deployments(parse_overrides(args.schedule))
    except ConfigError as exc:
        print(f"stackwatch: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    serve(*deployments, pause_on_shutdown=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
