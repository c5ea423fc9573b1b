"""``stackwatch report daily`` and ``stackwatch cleanup weekly``: the two reports, on demand.

Here rather than in ``stackwatch/reports/``: the daily report's flow-run history is read with
Prefect's client, which only ``flows/`` imports.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stackwatch.config import load_config
from stackwatch.errors import StackwatchError

DEFAULT_OUTPUT = "daily-report.html"


def register(subparsers: Any, config_options: argparse.ArgumentParser) -> None:
    report = subparsers.add_parser(
        "report",
        help="build the daily summary report now",
        description="Build the daily summary (host, services, Prefect flow runs, containers, "
        "k3s, alerts over the last 24 h) and mail it. A source that is down is one line in "
        "its section, not a failure.",
    )
    reports = report.add_subparsers(title="reports", metavar="REPORT", required=True)
    daily = reports.add_parser(
        "daily",
        parents=[config_options],
        help="the daily summary",
        description="Build the daily summary and mail it; with --dry-run write the HTML "
        "(charts embedded) to a file instead and send nothing.",
    )
    daily.add_argument(
        "--dry-run", action="store_true", help="do not send; write the HTML to --output"
    )
    daily.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help=f"where to write the HTML (default with --dry-run: {DEFAULT_OUTPUT}); "
        "the Markdown goes beside it as .md",
    )
    daily.set_defaults(func=daily_command)

    cleanup = subparsers.add_parser(
        "cleanup",
        help="run the weekly cleanup now",
        description="Docker prune, old Elasticsearch indices, old Loki data, old rotated log "
        "files and old alert history, each step on its own, then mail what was removed and "
        "the space freed.",
    )
    cleanups = cleanup.add_subparsers(title="cleanups", metavar="CLEANUP", required=True)
    weekly = cleanups.add_parser(
        "weekly",
        parents=[config_options],
        help="the weekly cleanup",
        description="Run the weekly cleanup and mail the report. With --dry-run nothing is "
        "removed and nothing is sent: the report of what would be removed is printed.",
    )
    weekly.add_argument(
        "--dry-run", action="store_true", help="show what would be removed; remove nothing"
    )
    weekly.set_defaults(func=cleanup_command)


def _inline_images(html: str, images: list[Any]) -> str:
    """Swap ``cid:`` references for data URLs so a browser shows the file on its own."""
    import base64

    for image in images:
        data = base64.b64encode(image.data).decode("ascii")
        html = html.replace(f"cid:{image.cid}", f"data:image/{image.subtype};base64,{data}")
    return html


def daily_command(args: argparse.Namespace) -> int:
    # Prefect is imported only when the report is built: `stackwatch --help` stays fast
    from flows.flow_history import daily_report
    from stackwatch.reports.daily import send_daily_report

    config = load_config(args.config)
    report = daily_report(config)
    if args.dry_run or args.output:
        path = Path(args.output or DEFAULT_OUTPUT)
        try:
            path.write_text(_inline_images(report.html, report.images), encoding="utf-8")
            path.with_suffix(".md").write_text(report.markdown, encoding="utf-8")
        except OSError as exc:
            raise StackwatchError(f"cannot write {path}: {exc.strerror}") from None
        print(f"{report.subject}\nwrote {path} and {path.with_suffix('.md')}")  # noqa: T201
    if not args.dry_run:
        send_daily_report(config, report)
        print(f"sent {report.subject!r}")  # noqa: T201
    return 0


def cleanup_command(args: argparse.Namespace) -> int:
    from stackwatch.reports.cleanup import run_weekly_cleanup, send_cleanup_report

    config = load_config(args.config)
    report = run_weekly_cleanup(config, dry_run=args.dry_run)
    print(report.text, end="")  # noqa: T201
    if not args.dry_run:
        send_cleanup_report(config, report)
    return 0 if all(step.ok for step in report.steps) else 1
