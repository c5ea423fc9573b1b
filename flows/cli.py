"""``stackwatch flows``: list the seven flows, or run one now outside its schedule."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, cast

from stackwatch.catalog import BY_NAME, FLOWS, groups_of
from stackwatch.config import config_path, load_config
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

    listing = commands.add_parser(
        "list",
        parents=[config_options],
        help="the flows, their schedules (UTC) and the rule groups each evaluates",
    )
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
    from alerter.check import group_names  # the rule files are read only here

    config = load_config(args.config)
    groups = group_names(config)
    evaluates = {
        spec.name: ", ".join(
            g for g in groups_of(spec.name, groups, config.rules.flows) if g in groups
        )
        or "-"
        if spec.kind == "check"
        else "-"
        for spec in FLOWS
    }
    rows = [(spec.name, spec.cron, evaluates[spec.name], spec.description) for spec in FLOWS]
    headers = ("FLOW", "SCHEDULE (UTC)", "RULE GROUPS", "DESCRIPTION")
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(3)]
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[3]]))  # noqa: T201
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
