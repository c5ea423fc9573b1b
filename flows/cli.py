"""``stackwatch flows``: list the seven flows, or run one now outside its schedule."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, cast

from stackwatch.catalog import BY_NAME, FLOWS
from stackwatch.config import config_path
from stackwatch.errors import StackwatchError


class FlowRunFailedError(StackwatchError):
    """The flow run ended in a state other than Completed."""


class NoPrefectServerError(StackwatchError):
    """No Prefect server to record the run: none configured and no `make run` up."""


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
        "recorded by the Prefect server at $PREFECT_API_URL; unset, by the one `make run` "
        "started (found from its state folder, $STACKWATCH_STATE_DIR or ./state), with the "
        "same Prometheus, database and outbox.",
    )
    run.add_argument("name", choices=list(BY_NAME), metavar="NAME", help=", ".join(BY_NAME))
    run.set_defaults(func=run_flow)


def list_flows(args: argparse.Namespace) -> int:
    width = max(len(spec.name) for spec in FLOWS)
    print(f"{'FLOW':<{width}}  {'SCHEDULE (UTC)':<14}  DESCRIPTION")  # noqa: T201
    for spec in FLOWS:
        print(f"{spec.name:<{width}}  {spec.cron:<14}  {spec.description}")  # noqa: T201
    return 0


def use_local_stack() -> None:
    """With no $PREFECT_API_URL, take the environment of the stack `make run` runs, if any."""
    if os.environ.get("PREFECT_API_URL"):
        return
    from flows.launcher_state import find_local_stack

    running = find_local_stack()
    if running is None:
        return
    for name, value in running.env.items():
        os.environ.setdefault(name, value)
    print(  # noqa: T201
        "using the stackwatch stack started by `make run` "
        f"(Prefect API {running.env['PREFECT_API_URL']}, state {running.state_dir})",
        file=sys.stderr,
    )


def run_flow(args: argparse.Namespace) -> int:
    use_local_stack()  # before Prefect is imported: its settings are read then
    # Prefect is imported only when a flow runs: `stackwatch --help` stays fast
    from prefect.client.schemas.objects import State
    from prefect.settings import get_current_settings

    from flows.serve import load_flow

    # a temporary server of Prefect's own only when asked for: it takes half a minute to
    # start, and the run it records is gone with it
    ephemeral = os.environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "").lower() == "true"
    if get_current_settings().api.url is None and not ephemeral:
        raise NoPrefectServerError(
            "no Prefect server to record the run: start `make run`, or set PREFECT_API_URL "
            "(e.g. export PREFECT_API_URL=http://127.0.0.1:4200/api)"
        )
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
