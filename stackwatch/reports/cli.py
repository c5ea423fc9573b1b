"""``stackwatch cleanup weekly``: the weekly cleanup, on demand."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stackwatch.config import load_config


def register(subparsers: Any, config_options: argparse.ArgumentParser) -> None:
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
        "removed and nothing is sent: the report of what would be removed is printed (and "
        "its HTML written to --output).",
    )
    weekly.add_argument(
        "--dry-run", action="store_true", help="show what would be removed; remove nothing"
    )
    weekly.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="also write the report's HTML (the mail's HTML part) to this file",
    )
    weekly.set_defaults(func=cleanup_command)


def cleanup_command(args: argparse.Namespace) -> int:
    from stackwatch.reports.cleanup import run_weekly_cleanup, send_cleanup_report

    config = load_config(args.config)
    report = run_weekly_cleanup(config, dry_run=args.dry_run)
    print(report.text, end="")  # noqa: T201
    if args.output is not None:
        args.output.write_text(report.html, encoding="utf-8")
        print(f"HTML written to {args.output}")  # noqa: T201
    if not args.dry_run:
        send_cleanup_report(config, report)
    return 0 if all(step.ok for step in report.steps) else 1
