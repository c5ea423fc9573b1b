"""State hooks: mail the people on call when a flow run fails or crashes after its retries.

Prefect's open-source server has no email action, so the hooks use stackwatch's mailer (SMTP, or
the outbox folder when no SMTP host is configured) and its HTML mail layout.
"""

from __future__ import annotations

import html
import logging
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from prefect.client.schemas.objects import FlowRun, State
from prefect.logging.loggers import flow_run_logger
from prefect.settings import PREFECT_API_URL

from stackwatch import htmlmail
from stackwatch.config import Config, load_config
from stackwatch.errors import StackwatchError
from stackwatch.links import run_url, ui_url
from stackwatch.mail import Mailer

TEMPLATE = "flow-failure.html.j2"

log = logging.getLogger(__name__)


@cache
def _environment() -> SandboxedEnvironment:
    return htmlmail.environment(Path(__file__).parent / "templates")


def run_link(config: Config, flow_run_id: object) -> str:
    """The run's page in the Prefect UI (see ``stackwatch.links.ui_url``)."""
    return run_url(ui_url(config, PREFECT_API_URL.value()), str(flow_run_id))


def failure_message(
    flow_name: str, flow_run: FlowRun, state: State[Any], link: str
) -> tuple[str, str, str]:
    """Subject, text and HTML of the mail for a failed or crashed run."""
    outcome = state.type.value  # FAILED or CRASHED
    error = state.message or state.name or outcome
    subject = f"[{outcome}] {flow_name}: {error.splitlines()[0][:160]}"
    started = flow_run.start_time.isoformat() if flow_run.start_time else "not started"
    text = (
        f"Flow {flow_name} ended {state.name} (run {flow_run.name}).\n\n"
        f"Error: {error}\n\n"
        f"Run: {link}\n"
        f"Started: {started}\n"
        f"Attempts: {flow_run.run_count}\n"
    )
    try:
        body = (
            _environment()
            .get_template(TEMPLATE)
            .render(
                subject=subject,
                flow_name=flow_name,
                state_name=state.name or outcome,
                run_name=flow_run.name or "",
                error=error,
                link=link,
                started=started,
                attempts=flow_run.run_count,
            )
        )
    except jinja2.TemplateError as exc:
        # flows/ may be a mounted folder: a missing or broken template must not stop the mail
        log.error("failure mail template %s cannot be rendered: %s", TEMPLATE, exc)
        body = f"<pre>{html.escape(text)}</pre>"
    return subject, text, body


def notify_failure(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """``on_failure`` / ``on_crashed`` hook: one mail naming the flow, the error and the run."""
    logger = flow_run_logger(flow_run, flow)
    try:
        config = load_config(flow_run.parameters.get("config_path"))
        link = run_link(config, flow_run.id)
        mailer = Mailer(config.smtp)
        subject, text, body = failure_message(flow.name, flow_run, state, link)
        mailer.send(mailer.compose(subject, text, body))
    except StackwatchError as exc:
        logger.error("could not send the failure mail for this run: %s", exc)
        return
    logger.info("failure mail sent via %s: %s", mailer.describe(), subject)
