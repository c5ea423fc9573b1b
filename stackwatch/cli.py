"""The ``stackwatch`` command line: one subcommand per area, each with its own ``--help``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from stackwatch import __version__, config_cmd
from stackwatch.errors import StackwatchError
from stackwatch.install import check_packages


def areas() -> tuple[ModuleType, ...]:
    """The areas' command modules; each adds its commands with ``register(subparsers,
    config_options)`` and a command sets ``func``. The areas import nothing from here: the
    shared ``--config`` option is handed to them."""
    # imported only after check_packages(): a foreign `exporter` would be imported instead
    import alerter.cli
    import exporter.cli
    import flows.cli
    import flows.report_cli
    from stackwatch.reports import cli as reports_cli

    return (config_cmd, exporter.cli, alerter.cli, flows.cli, flows.report_cli, reports_cli)


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
    config_options = config_parent()
    for area in areas():
        area.register(subparsers, config_options)
    return parser


def config_parent() -> argparse.ArgumentParser:
    """The ``--config`` option shared by every command that reads the config."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="config file (default: $STACKWATCH_CONFIG, else ./stackwatch.yml)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        check_packages()
    except StackwatchError as exc:
        print(f"stackwatch: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
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
