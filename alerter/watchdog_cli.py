"""The ``watchdog`` command: look for stopped checks every ``watchdog.interval`` and mail."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import Any

from stackwatch.config import load_config
from stackwatch.format import format_duration

DESCRIPTION = """\
Watch the checks from outside Prefect. Every watchdog.interval (default 1m) it reads each
check group's last evaluation from the alert database (state.path) and GETs <Prefect API>/health.
When a group has not been evaluated for watchdog.stale_after (default 3) times its flow's
schedule interval, or the Prefect API has been unreachable for watchdog.prefect_unreachable_after
(default 5m), it mails once "checks stopped: GROUPS, last run at ..., Prefect API: reachable or
unreachable", and once "checks resumed" when they run again, through the smtp settings and the
outbox. What it mailed is kept in the database: a restart does not mail again. It never runs a
check itself."""


def register(subparsers: Any, config_options: argparse.ArgumentParser) -> None:
    watchdog = subparsers.add_parser(
        "watchdog",
        parents=[config_options],
        help="mail when the checks stop running (independent of Prefect)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    watchdog.add_argument(
        "--once", action="store_true", help="look once, print what was found and exit"
    )
    watchdog.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve /health there: 200 while the last look finished within 3 intervals",
    )
    watchdog.set_defaults(func=watchdog_command)


def _stop_on_term(stop: threading.Event) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)


def watchdog_command(args: argparse.Namespace) -> int:
    from alerter.watchdog_health import Liveness, serve_health
    from alerter.watchdog_run import look, run

    config = load_config(args.config)
    if args.once:
        result = look(config)
        decision = result.decision
        for w in result.watched:
            stale = " STALE" if w in decision.stale else ""
            print(f"{w.group}: every {format_duration(w.interval)}, last {w.last}{stale}")  # noqa: T201
        api = "reachable" if decision.api_reachable else "unreachable"
        print(f"Prefect API: {api}; mail: {decision.mail or 'none'}")  # noqa: T201
        return 0
    stop = threading.Event()
    _stop_on_term(stop)
    liveness = Liveness(3 * config.watchdog.interval + 30)
    server = serve_health(args.listen, liveness) if args.listen else None
    try:
        run(config, stop, liveness=liveness)
    finally:
        if server is not None:
            server.shutdown()
    return 0
