"""One process serving all seven deployments on their schedules (``make run`` starts it).

``python -m flows.serve [--schedule NAME=SPEC]...``: SPEC is a cron expression (UTC) or an
interval such as ``30s``, replacing that flow's schedule (for trying things out and for tests);
its runs' timeout follows the schedule that replaces it (``flows.schedules.run_timeout``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, cast

from prefect import Flow, serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval, Schedule

from flows.schedules import (
    ScheduleSpec,
    export_overrides,
    parse_schedule_overrides,
    parse_schedule_spec,
)
from stackwatch.catalog import (
    COLLISION_STRATEGY,
    CONCURRENCY_LIMIT,
    FLOWS,
    TIMEZONE,
    FlowSpec,
)
from stackwatch.errors import ConfigError


def load_flow(spec: FlowSpec) -> Flow[..., Any]:
    """The flow object behind a catalog entry."""
    flow: Flow[..., Any] = getattr(importlib.import_module(spec.module), spec.function)
    return flow


def prefect_schedule(spec: ScheduleSpec) -> Schedule:
    """The Prefect schedule for a parsed override, in the catalogue's time zone."""
    if isinstance(spec, str):
        return Cron(spec, timezone=TIMEZONE)
    return Interval(spec, timezone=TIMEZONE)


def parse_schedule(text: str) -> Schedule:
    """A cron expression (five fields, UTC) or an interval like ``30s`` / ``5m``."""
    return prefect_schedule(parse_schedule_spec(text))


def parse_overrides(items: Sequence[str]) -> dict[str, Schedule]:
    """``NAME=SPEC`` pairs from the command line, checked against the catalogue."""
    return {name: prefect_schedule(spec) for name, spec in parse_schedule_overrides(items).items()}


def concurrency() -> ConcurrencyLimitConfig:
    """One run per deployment at a time: a run due while one is going is cancelled."""
    return ConcurrencyLimitConfig(
        limit=CONCURRENCY_LIMIT, collision_strategy=ConcurrencyLimitStrategy(COLLISION_STRATEGY)
    )


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
    export_overrides(args.schedule, os.environ)  # each run's timeout follows its schedule
    serve(*deployments, pause_on_shutdown=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
