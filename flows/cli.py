"""``stackwatch flows``: list the seven flows, or run one now outside its schedule."""

from __future__ import annotations

import argparse
import json
from typing import Any, cast

from stackwatch.catalog import BY_NAME, FLOWS
from stackwatch.config import config_path
from stackwatch.errors import StackwatchError


class FlowRunFailedError(StackwatchError):
    """The flow run ended in a state other than Completed."""


def register(subparsers: Any, config_options: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "flows",
        help="list the Prefect flows or run one now",
        description="The seven scheduled flows. They are served with their schedules by "
        "`make run`, or deployed from prefect.yaml to a `process` work pool.",
    )
    commands = parser.add_subparsers(title="flow commands", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="the flows, their schedules (UTC) and entry points")
    listing.set_defaults(func=list_flows)

    run = commands.add_parser(
        "run",
        parents=[config_options],
        help="run one flow now, in this process",
        description="Run one flow now, in this process, and print its final state. The run is "
        "recorded by the Prefect server at $PREFECT_API_URL (e.g. http://127.0.0.1:4200/api "
        "while `make run` is up); without one, Prefect starts a temporary local server.",
    )
    run.add_argument("name", choices=list(BY_NAME), metavar="NAME", help=", ".join(BY_NAME))
    run.set_defaults(func=run_flow)


def list_flows(args: argparse.Namespace) -> int:
    width = max(len(spec.name) for spec in FLOWS)
    print(f"{'FLOW':<{width}}  {'SCHEDULE (UTC)':<14}  DESCRIPTION")  # noqa: T201
    for spec in FLOWS:
        print(f"{spec.name:<{width}}  {spec.cron:<14}  {spec.description}")  # noqa: T201
    return 0


def run_flow(args: argparse.Namespace) -> int:
    # Prefect is imported only when a flow runs: `stackwatch --help` stays fast
    from prefect.client.schemas.objects import State

    from flows.serve import load_flow

    path = config_path(args.config)
    flow = load_flow(BY_NAME[args.name])
    state = cast(
        "State[Any]",
        flow(config_path=str(path.resolve()) if path else None, return_state=True),
    )
    if not state.is_completed():
        raise FlowRunFailedError(f"{args.name} ended {state.name}: {state.message}")
    result = state.result()
    print(json.dumps(result, indent=2, default=str))  # noqa: T201
    return 0
