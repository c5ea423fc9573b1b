"""``stackwatch report daily``: the daily summary, on demand.

Here rather than in ``stackwatch/reports/``: the report's flow-run history is read with
Prefect's client, which only ``flows/`` imports.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stackwatch.config import Config, load_config
from stackwatch.errors import StackwatchError
from stackwatch.private import private_dirs

DEFAULT_OUTPUT = "daily-report.html"  # in the folder of the alert database (state.path)


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
        help=f"where to write the HTML (default with --dry-run: reports/{DEFAULT_OUTPUT} in "
        "the state folder, state/ by default); the Markdown goes beside it as .md",
    )
    daily.set_defaults(func=daily_command)


def _inline_images(html: str, images: list[Any]) -> str:
    """Swap ``cid:`` references for data URLs so a browser shows the file on its own."""
    import base64

    for image in images:
        data = base64.b64encode(image.data).decode("ascii")
        html = html.replace(f"cid:{image.cid}", f"data:image/{image.subtype};base64,{data}")
    return html


def default_output(config: Config) -> Path:
    """Where a dry run writes: ``reports/`` beside the alert database, under ``state/`` by
    default (which ``.gitignore`` covers), never the working folder."""
    return config.state.path.parent / "reports" / DEFAULT_OUTPUT


def daily_command(args: argparse.Namespace) -> int:
    # Prefect is imported only when the report is built: `stackwatch --help` stays fast
    from flows.flow_history import daily_report
    from stackwatch.reports.daily import send_daily_report

    config = load_config(args.config)
    report = daily_report(config)
    if args.dry_run or args.output:
        path = Path(args.output) if args.output else default_output(config)
        try:
            if not args.output:
                private_dirs(path.parent)
            path.write_text(_inline_images(report.html, report.images), encoding="utf-8")
            path.with_suffix(".md").write_text(report.markdown, encoding="utf-8")
        except OSError as exc:
            raise StackwatchError(f"cannot write {path}: {exc.strerror}") from None
        print(f"{report.subject}\nwrote {path} and {path.with_suffix('.md')}")  # noqa: T201
    if not args.dry_run:
        send_daily_report(config, report)
        print(f"sent {report.subject!r}")  # noqa: T201
    return 0
