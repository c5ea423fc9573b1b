"""``stackwatch exporter``: serve /metrics."""

from __future__ import annotations

import argparse
from typing import Any

from stackwatch.config import check_listen, load_config
from stackwatch.errors import ConfigError


def register(subparsers: Any, config_options: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "exporter",
        parents=[config_options],
        help="serve Prometheus metrics at /metrics",
        description="Serve host, service, Docker and k3s metrics at /metrics for Prometheus. "
        "Each collector is isolated: one that fails reports "
        "stackwatch_scrape_collector_success 0 and the others carry on.",
    )
    parser.add_argument(
        "--listen", metavar="HOST:PORT", help="address to listen on (default: exporter.listen)"
    )
    parser.set_defaults(func=exporter_command)


def exporter_command(args: argparse.Namespace) -> int:
    from exporter.server import run

    config = load_config(args.config)
    listen = args.listen
    if listen is not None:
        try:
            check_listen(listen)
        except ValueError as exc:
            raise ConfigError(f"--listen: {exc}") from None
    run(config, listen)
    return 0
