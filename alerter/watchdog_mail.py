"""The watchdog's mail: the subject and text of ``alerter.watchdog.message`` and an HTML part in
the shared mail layout (``templates/watchdog.html.j2``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerter.watchdog import LOOK_COMMANDS, STOPPED, Decision, Watched, api_line, message
from stackwatch import htmlmail
from stackwatch.config import Config
from stackwatch.format import format_duration, human_duration, moment_text
from stackwatch.links import api_url, ui_url

TEMPLATES = Path(__file__).parent / "templates"
HTML_TEMPLATE = "watchdog.html.j2"


@dataclass(frozen=True)
class WatchdogMail:
    """One watchdog mail: its subject and both parts."""

    subject: str
    text: str
    html: str


def runs_url(config: Config) -> str | None:
    """The Prefect UI's flow runs page, when a Prefect UI or API is configured."""
    api = api_url(config)
    if not (api or config.links.prefect_ui_url or os.environ.get("PREFECT_UI_URL")):
        return None
    return f"{ui_url(config, api)}/runs"


def _group(w: Watched, now: float, stale: bool) -> dict[str, Any]:
    every = f"every {format_duration(w.interval)}"
    return {
        "group": w.group,
        "stale": stale,
        "facts": [
            (
                "last run",
                f"{moment_text(w.last)}, {human_duration(now - w.last)} ago"
                if w.last is not None
                else "never",
            ),
            ("flow", w.flow),
            ("schedule", f"{every}, cron {w.cron} (UTC)" if w.cron else every),
        ],
    }


def html_context(
    decision: Decision,
    watched: Sequence[Watched],
    now: float,
    subject: str,
    *,
    api: str | None,
    command: str,
    runs: str | None,
) -> dict[str, Any]:
    stale = {w.group for w in decision.stale}
    stopped = decision.mail == STOPPED
    return {
        "subject": subject,
        "stopped": stopped,
        "stale": [_group(w, now, True) for w in watched if w.group in stale],
        "running": [_group(w, now, False) for w in watched if w.group not in stale],
        "api_reachable": decision.api_reachable,
        "api_line": api_line(decision),
        "api_unreachable": f"Unreachable for {human_duration(decision.api_unreachable_for)}",
        "api_url": api or "",
        "commands": [(f"{command} {c}", what) for c, what in LOOK_COMMANDS],
        "runs_url": runs or "",
        "now": moment_text(now),
    }


def compose(
    decision: Decision, watched: Sequence[Watched], now: float, config: Config
) -> WatchdogMail:
    """The mail ``decision`` calls for, with the commands and links to look further."""
    command = config.links.command
    runs = runs_url(config)
    subject, text = message(decision, watched, now, command=command, runs_url=runs)
    context = html_context(
        decision, watched, now, subject, api=api_url(config), command=command, runs=runs
    )
    html = htmlmail.environment(TEMPLATES).get_template(HTML_TEMPLATE).render(context)
    return WatchdogMail(subject, text, html)
