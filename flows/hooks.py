"""State hooks: mail the people on call when a flow starts failing, remind them while it keeps
failing, and mail once when it recovers.

A failed or crashed run (after its retries) counts in the flow's failing streak, kept in the
state database so that it survives restarts and is shared by every process: the first failed
run is mailed, later ones only once ``rules.repeat_interval`` has passed since the last mail,
and the first successful run after a mailed failure is mailed as recovered. Prefect's
open-source server has no email action, so the hooks use stackwatch's mailer (SMTP, or the
outbox folder when no SMTP host is configured) and its HTML mail layout.
"""

from __future__ import annotations

import html
import logging
import re
import sqlite3
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import FailedRun
from prefect.logging.loggers import flow_run_logger
from prefect.settings import PREFECT_API_URL

from alerter.store import AlertStore, FlowFailure
from alerter.store.flow_failures import FIRST, REMINDER
from stackwatch import htmlmail
from stackwatch.catalog import BY_NAME
from stackwatch.config import Config, load_config
from stackwatch.errors import StackwatchError
from stackwatch.format import cut_words, format_duration, last_lines, moment_text, stamp
from stackwatch.heartbeat import ping
from stackwatch.links import run_url, ui_url
from stackwatch.mail import Mailer

#: the most of the error's first line a failure mail's subject holds; cut at a word beyond
SUBJECT_ERROR_LIMIT = 160
TEMPLATE = "flow-failure.html.j2"
RECOVERED_TEMPLATE = "flow-recovered.html.j2"

log = logging.getLogger(__name__)


@cache
def _environment() -> SandboxedEnvironment:
    return htmlmail.environment(Path(__file__).parent / "templates")


def run_link(config: Config, flow_run_id: object) -> str:
    """The run's page in the Prefect UI (see ``stackwatch.links.ui_url``)."""
    return run_url(ui_url(config, PREFECT_API_URL.value()), str(flow_run_id))


def _render(name: str, text: str, **context: Any) -> str:
    try:
        return _environment().get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        # flows/ may be a mounted folder: a missing or broken template must not stop the mail
        log.error("flow mail template %s cannot be rendered: %s", name, exc)
        return f"<pre>{html.escape(text)}</pre>"


def _streak_text(streak: FlowFailure) -> str:
    return f"{streak.failed_runs} failed runs since {moment_text(streak.failing_since)}"


@dataclass(frozen=True)
class RunFacts:
    """What the Prefect API says about a failed run beyond the run itself."""

    deployment: str = ""
    next_run: datetime | None = None


def error_details(state: State[Any]) -> str:
    """The error's last lines: the traceback's end when the exception is at hand, else the
    state's message."""
    message = _without_prefix(state.message or state.name or state.type.value)
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - the result may be gone; the message still says enough
        exc = None
    # Prefect's stand-in for an exception it no longer has carries only the message
    if isinstance(exc, BaseException) and exc.__traceback__ and not isinstance(exc, FailedRun):
        return last_lines("".join(traceback.format_exception(exc)))
    return last_lines(message)


def run_facts(flow_run: FlowRun) -> RunFacts:
    """The run's deployment and that deployment's next scheduled run, from the Prefect API;
    what cannot be read is left out (the mail must go out anyway)."""
    if flow_run.deployment_id is None:
        return RunFacts()
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment(flow_run.deployment_id)
            scheduled = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[flow_run.deployment_id]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
    except Exception as exc:  # noqa: BLE001 - any API trouble only leaves these facts out
        log.warning("cannot read the run's deployment from the Prefect API: %s", exc)
        return RunFacts()
    upcoming = scheduled[0].expected_start_time if scheduled else None
    return RunFacts(deployment.name, upcoming)


# how Prefect words the state message of a flow that raised
_PREFECT_PREFIX = re.compile(r"^Flow run encountered an exception: (?:(\w+): )?")


def _own_error_names(cls: type[BaseException] = StackwatchError) -> set[str]:
    return {cls.__name__}.union(*(_own_error_names(sub) for sub in cls.__subclasses__()))


def _without_prefix(error: str) -> str:
    """The error as people should read it: without Prefect's preamble, and without the class
    name of stackwatch's own errors (their message is written for people)."""
    match = _PREFECT_PREFIX.match(error)
    if match is None:
        return error
    name = match.group(1)
    if name is not None and name not in _own_error_names():
        return error[match.start(1) :]
    return error[match.end() :]


def failure_subject(prefix: str, flow_name: str, error: str) -> str:
    """``[FAILED] flow: the error's first line``, cut at a word to fit a mail list's width."""
    head = f"[{prefix}] {flow_name}: "
    error = _without_prefix(error.strip())
    first = error.splitlines()[0] if error else prefix
    return head + cut_words(first, SUBJECT_ERROR_LIMIT)


def failure_message(
    flow_name: str,
    flow_run: FlowRun,
    state: State[Any],
    link: str,
    streak: FlowFailure | None = None,
    repeat_interval: float | None = None,
    facts: RunFacts | None = None,
) -> tuple[str, str, str]:
    """Subject, text and HTML of the mail for a failed or crashed run; with a ``streak`` of
    more than one run, the reminder that the flow is still failing."""
    facts = facts or RunFacts()
    outcome = state.type.value  # FAILED or CRASHED
    error = state.message or state.name or outcome
    details = error_details(state)
    reminder = streak is not None and streak.failed_runs > 1
    prefix = "STILL FAILING" if reminder else outcome
    subject = failure_subject(prefix, flow_name, error)
    started = stamp(flow_run.start_time) if flow_run.start_time else "not started"
    failing = _streak_text(streak) if streak is not None and reminder else ""
    if failing and repeat_interval is not None:
        failing += f"; reminded at most every {format_duration(repeat_interval)}"
    next_run = stamp(facts.next_run) if facts.next_run else "none scheduled"
    rows = [
        ("Flow", flow_name),
        ("Deployment", facts.deployment or "none (run by hand)"),
        ("Run", flow_run.name or str(flow_run.id)),
        ("Started", started),
        ("Attempts", str(flow_run.run_count)),
        ("Next run", next_run),
    ]
    text = (
        f"Flow {flow_name} ended {state.name}.\n\n"
        + (f"Still failing: {failing}.\n\n" if failing else "")
        + "".join(f"{name + ':':<12}{value}\n" for name, value in rows)
        + f"{'Link:':<12}{link}\n\n"
        + "Error:\n"
        + "".join(f"    {line}\n" for line in details.splitlines())
    )
    body = _render(
        TEMPLATE,
        text,
        subject=subject,
        flow_name=flow_name,
        state_name=state.name or outcome,
        rows=rows,
        error=details,
        link=link,
        failing=failing,
    )
    return subject, text, body


def recovered_message(
    flow_name: str, flow_run: FlowRun, streak: FlowFailure, link: str
) -> tuple[str, str, str]:
    """Subject, text and HTML of the mail for the first successful run after failed ones."""
    runs = "run" if streak.failed_runs == 1 else "runs"
    subject = f"[RECOVERED] {flow_name}: after {streak.failed_runs} failed {runs}"
    since = moment_text(streak.failing_since)
    last_error = streak.last_error.splitlines()[0][:500] if streak.last_error else ""
    text = (
        f"Flow {flow_name} ran successfully again (run {flow_run.name}).\n\n"
        f"It had been failing since {since}: {streak.failed_runs} failed {runs}.\n"
        f"Last error: {last_error}\n\n"
        f"Run: {link}\n"
    )
    body = _render(
        RECOVERED_TEMPLATE,
        text,
        subject=subject,
        flow_name=flow_name,
        run_name=flow_run.name or "",
        since=since,
        failed_runs=streak.failed_runs,
        runs=runs,
        last_error=last_error,
        link=link,
    )
    return subject, text, body


def _record_failure(
    config: Config, flow_name: str, error: str, logger: Any
) -> tuple[FlowFailure | None, str | None]:
    """The flow's streak and the mail due; without the database, every failure is mailed
    (a duplicate is better than silence)."""
    try:
        with AlertStore(config.state.path) as store:
            return store.record_failure(flow_name, error, time.time(), config.rules.repeat_interval)
    except (StackwatchError, sqlite3.Error) as exc:
        logger.error("cannot record the failure in the state database, mailing it: %s", exc)
        return None, FIRST


def _give_back(config: Config, streak: FlowFailure | None, previous: float | None) -> None:
    if streak is None:
        return
    try:
        with AlertStore(config.state.path) as store:
            store.mail_failed(streak, previous)
    except (StackwatchError, sqlite3.Error) as exc:
        log.error("cannot record in the state database that the failure mail failed: %s", exc)


def _heartbeat(config: Config, flow_name: str, *, ok: bool) -> None:
    """After a check run: the dead man's switch's ping (``notify.heartbeat_url``)."""
    spec = BY_NAME.get(flow_name)
    if spec is not None and spec.kind == "check":
        ping(config.notify, ok)


def notify_failure(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """``on_failure`` / ``on_crashed`` hook: counts the run in the flow's failing streak and
    mails when the streak starts or a reminder is due, naming the flow, the error and the run."""
    logger = flow_run_logger(flow_run, flow)
    try:
        config = load_config(flow_run.parameters.get("config_path"))
    except StackwatchError as exc:
        logger.error("could not send the failure mail for this run: %s", exc)
        return
    _heartbeat(config, flow.name, ok=False)
    error = state.message or state.name or state.type.value
    streak, due = _record_failure(config, flow.name, error, logger)
    if due is None and streak is not None:
        logger.info(
            "failure not mailed again: %s (last mail %s; reminders every %s)",
            _streak_text(streak),
            moment_text(streak.last_mailed),
            format_duration(config.rules.repeat_interval),
        )
        return
    try:
        link = run_link(config, flow_run.id)
        mailer = Mailer(config.smtp)
        subject, text, body = failure_message(
            flow.name,
            flow_run,
            state,
            link,
            streak if due == REMINDER else None,
            config.rules.repeat_interval,
            run_facts(flow_run),
        )
        mailer.send(mailer.compose(subject, text, body))
    except StackwatchError as exc:
        _give_back(config, streak, None if due == FIRST else _previous_mail(streak))
        logger.error("could not send the failure mail for this run: %s", exc)
        return
    logger.info("failure mail sent via %s: %s", mailer.describe(), subject)


def _previous_mail(streak: FlowFailure | None) -> float | None:
    # the reminder's claim moved last_mailed to now; giving it back to the streak's start
    # makes the next failed run due at once, which is what a lost reminder needs
    return streak.failing_since if streak is not None else None


def notify_recovery(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """``on_completion`` hook: records the run's success and ends the flow's failing streak;
    one mail if it was mailed."""
    logger = flow_run_logger(flow_run, flow)
    try:
        config = load_config(flow_run.parameters.get("config_path"))
    except StackwatchError as exc:
        logger.error("could not read the config after this run: %s", exc)
        return
    _heartbeat(config, flow.name, ok=True)
    try:
        with AlertStore(config.state.path) as store:
            store.record_flow_success(flow.name, time.time())
            streak = store.record_success(flow.name)
    except (StackwatchError, sqlite3.Error) as exc:
        logger.error("could not read the flow's failing streak from the state database: %s", exc)
        return
    if streak is None:
        return
    if streak.last_mailed is None:
        logger.info("recovered after %s; its failure was never mailed", _streak_text(streak))
        return
    try:
        mailer = Mailer(config.smtp)
        subject, text, body = recovered_message(
            flow.name, flow_run, streak, run_link(config, flow_run.id)
        )
        mailer.send(mailer.compose(subject, text, body))
    except StackwatchError as exc:
        logger.error("could not send the recovered mail, trying on the next run: %s", exc)
        try:
            with AlertStore(config.state.path) as store:
                store.restore_failure(streak)
        except (StackwatchError, sqlite3.Error) as store_exc:
            logger.error("cannot keep the failing streak in the state database: %s", store_exc)
        return
    logger.info("recovered mail sent via %s: %s", mailer.describe(), subject)


def _config_of(flow: Any, flow_run: FlowRun) -> Config | None:
    try:
        return load_config(flow_run.parameters.get("config_path"))
    except StackwatchError as exc:
        flow_run_logger(flow_run, flow).error("could not read the config after this run: %s", exc)
        return None


def record_completion(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """``on_completion`` hook of a flow that mails nothing: its run's success is recorded and
    the heartbeat pinged, no mail."""
    config = _config_of(flow, flow_run)
    if config is None:
        return
    _heartbeat(config, flow.name, ok=True)
    try:
        with AlertStore(config.state.path) as store:
            store.record_flow_success(flow.name, time.time())
    except (StackwatchError, sqlite3.Error) as exc:
        flow_run_logger(flow_run, flow).error("could not record the run's success: %s", exc)


def record_failure(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """``on_failure`` / ``on_crashed`` hook of a flow that mails nothing: the heartbeat's fail
    ping only."""
    config = _config_of(flow, flow_run)
    if config is not None:
        _heartbeat(config, flow.name, ok=False)
