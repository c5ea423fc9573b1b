"""The ``stackwatch`` command line: one subcommand per area, each with its own ``--help``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from stackwatch import __version__
from stackwatch.errors import StackwatchError

# Each module defines ``register(subparsers)`` adding its commands; a command sets ``func``.
COMMAND_MODULES = (
    "stackwatch.config_cmd",
    "exporter.cli",
    "alerter.cli",
    "flows.cli",
    "reports.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackwatch",
        description="Monitoring for a one-server Docker + k3s stack: a Prometheus exporter, "
        "rule-driven email alerts and scheduled Prefect flows.",
        epilog="Config: --config FILE, else $STACKWATCH_CONFIG, else ./stackwatch.yml. "
        "Any key can be overridden from the environment as STACKWATCH__SECTION__KEY=value.",
    )
    parser.add_argument("--version", action="version", version=f"stackwatch {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging verbosity (default INFO)",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--config`` option shared by every command that reads the config."""
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="config file (default: $STACKWATCH_CONFIG, else ./stackwatch.yml)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.func(args)
    except StackwatchError as exc:
        print(f"stackwatch: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
