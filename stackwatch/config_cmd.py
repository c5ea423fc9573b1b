"""``stackwatch config check``: validate the config and list every problem."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stackwatch.config import COLLECTOR_NAMES, ConfigValidationError, config_path, load_config


def register(subparsers: Any, config_options: argparse.ArgumentParser) -> None:
    config = subparsers.add_parser("config", help="inspect the configuration")
    sub = config.add_subparsers(title="config commands", metavar="COMMAND", required=True)
    check = sub.add_parser(
        "check",
        parents=[config_options],
        help="validate the config file",
        description="Validate the config file, print every problem as FILE:LINE: KEY: MESSAGE, "
        "and exit 2 if there is any.",
    )
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    try:
        config = load_config(args.config)
    except ConfigValidationError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)  # noqa: T201
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)  # noqa: T201
        return 2
    enabled = ", ".join(name for name in COLLECTOR_NAMES if config.collector_enabled(name))
    print(  # noqa: T201
        f"{path or '<defaults>'}: OK ({len(config.services)} services, collectors: {enabled})"
    )
    return 0
