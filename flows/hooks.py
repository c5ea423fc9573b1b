"""State hooks: mail the people on call when a flow run fails or crashes after its retries.

Prefect's open-source server has no email action, so the hooks reuse the alerter's mailer (SMTP,
or the outbox folder when no SMTP host is configured).
"""

from __future__ import annotations

import html
from typing import Any

from prefect.client.schemas.objects import FlowRun, State
from prefect.logging.loggers import flow_run_logger
from prefect.settings import PREFECT_API_URL

from stackwatch.config import Config, load_config
from stackwatch.errors import StackwatchError
from stackwatch.links import run_url, ui_url
from stackwatch.mail import Mailer


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
    body = (
        f"<p>Flow <b>{html.escape(flow_name)}</b> ended <b>{html.escape(state.name or outcome)}"
        f"</b> (run {html.escape(flow_run.name or '')}).</p>"
        f"<pre>{html.escape(error)}</pre>"
        f'<p><a href="{html.escape(link, quote=True)}">Open the run in the Prefect UI</a></p>'
        f"<p>Started: {html.escape(started)}<br>Attempts: {flow_run.run_count}</p>"
    )
    return subject, text, f"<html><body>{body}</body></html>"


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
