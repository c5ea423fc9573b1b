"""The daily summary: host, services, flow runs, containers, k3s, alerts and their mail, 24 h.

Each section (``stackwatch/reports/sections/``) reads its own source behind one gate: a source
that is down or not configured turns into one line in its section, never into a failed report.
Flow-run history is read from Prefect by the caller (``flows/``) and handed in as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from stackwatch.config import Config
from stackwatch.format import day, stamp
from stackwatch.mail import InlineImage, Mailer
from stackwatch.reports.document import Document, render_html, render_markdown, render_text
from stackwatch.reports.flow_runs import FlowRunHistory
from stackwatch.reports.sections import (
    alerts,
    checks,
    docker,
    host,
    kubernetes,
    mail,
    prefect_runs,
    services,
)
from stackwatch.reports.sections.gate import Context, SectionSpec, gate
from stackwatch.reports.sections.source import WINDOW, prometheus

SECTIONS: tuple[SectionSpec, ...] = (
    host.SECTION,
    services.SECTION,
    prefect_runs.SECTION,
    docker.SECTION,
    kubernetes.SECTION,
    alerts.SECTION,
    mail.SECTION,
    checks.SECTION,
)


@dataclass
class DailyReport:
    """The rendered report: mail subject and parts, the artifact's Markdown, inline charts."""

    subject: str
    markdown: str
    text: str
    html: str
    images: list[InlineImage] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)


def window(now: datetime) -> tuple[datetime, datetime]:
    """The 24 h the report covers, ending at ``now``: the flow runs to hand in start inside."""
    return now - timedelta(seconds=WINDOW), now


def build_document(config: Config, now: datetime, flow_runs: FlowRunHistory | None) -> Document:
    doc = Document(
        title=f"Daily summary {day(now)}",
        subtitle=f"Last 24 h up to {stamp(now)}",
        footer=f"stackwatch daily summary report, generated {stamp(now)}.",
    )
    with prometheus(config, now) as source:
        ctx = Context(config, now, source, flow_runs)
        if isinstance(source, str):
            ctx.attention.append(source)  # once, at the top; its sections repeat the line
        doc.sections = [gate(spec, ctx) for spec in SECTIONS]
    doc.attention = ctx.attention
    return doc


def build_daily_report(
    config: Config, *, flow_runs: FlowRunHistory | None, now: datetime | None = None
) -> DailyReport:
    """Gather every section and render the mail and the artifact; never raises for a source.

    ``flow_runs`` holds the runs that started in ``window(now)``; None when Prefect is not
    configured.
    """
    now = now or datetime.now(tz=UTC)
    doc = build_document(config, now, flow_runs)
    status = f"{len(doc.attention)} need(s) attention" if doc.attention else "all OK"
    return DailyReport(
        subject=f"[stackwatch] Daily summary {day(now)}: {status}",
        markdown=render_markdown(doc),
        text=render_text(doc),
        html=render_html(doc),
        images=doc.images,
        attention=list(doc.attention),
    )


def send_daily_report(config: Config, report: DailyReport) -> None:
    """Mail the report (SMTP, or the outbox folder when no SMTP host is set)."""
    mailer = Mailer(config.smtp)
    mailer.send(mailer.compose(report.subject, report.text, report.html, images=report.images))
