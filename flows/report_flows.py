"""The two report flows: the daily summary and the weekly cleanup, each mailed and published."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.catalogued import catalogued_flow
from flows.flow_history import daily_report
from flows.retry import network_task
from stackwatch.config import Config, load_config
from stackwatch.mail import TransientMailError
from stackwatch.reports.cleanup import CleanupReport, run_weekly_cleanup, send_cleanup_report
from stackwatch.reports.daily import DailyReport, send_daily_report


@task(name="build-daily-report", cache_policy=NO_CACHE)
def build_daily(config: Config) -> DailyReport:
    """Gather the report; a source that is down becomes one line in it, not a failure."""
    report = daily_report(config)
    get_run_logger().info("built %r", report.subject)
    return report


@network_task("send-daily-report", TransientMailError)
def send_daily(config: Config, report: DailyReport) -> None:
    send_daily_report(config, report)
    get_run_logger().info("mailed %r", report.subject)


@task(name="run-weekly-cleanup", cache_policy=NO_CACHE)
def cleanup(config: Config, dry_run: bool) -> CleanupReport:
    """Every cleanup step runs on its own; one failing is reported and the next one runs."""
    report = run_weekly_cleanup(config, dry_run=dry_run)
    get_run_logger().info("cleanup done: %r", report.subject)
    return report


@network_task("send-cleanup-report", TransientMailError)
def send_cleanup(config: Config, report: CleanupReport) -> None:
    send_cleanup_report(config, report)
    get_run_logger().info("mailed %r", report.subject)


@catalogued_flow()
def daily_summary_report(config_path: str | None = None) -> dict[str, Any]:
    """Full stack health summary: published as an artifact and mailed."""
    config = load_config(config_path)
    report = build_daily(config)
    create_markdown_artifact(
        key="daily-summary-report", markdown=report.markdown, description=report.subject
    )
    send_daily(config, report)
    return {"subject": report.subject}


@catalogued_flow()
def weekly_cleanup_report(config_path: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Docker prune, old Elasticsearch indices, old Loki data; what was freed is mailed.

    A run where a step failed ends Failed once every step ran and the report is out, so the
    Prefect UI shows it.
    """
    config = load_config(config_path)
    report = cleanup(config, dry_run)
    create_markdown_artifact(
        key="weekly-cleanup-report", markdown=report.markdown, description=report.subject
    )
    send_cleanup(config, report)
    report.raise_for_failed_steps()
    return {"subject": report.subject, "dry_run": dry_run}
