"""The watchdog's "checks stopped" and "checks resumed" mails as they arrive (a real look, the
outbox, aiosmtpd): the facts of the HTML part line by line, the text part on its own, and both
in headless Chromium at a mail client's width and a phone's."""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from alerter.store import AlertStore
from alerter.watchdog import RESUMED, STOPPED
from alerter.watchdog_run import look
from stackwatch.config import Config
from tests.support.chromium import WIDTHS, artifacts, mail_html, overflow, screenshot
from tests.support.smtp import SmtpServer
from tests.support.watchdog import watchdog_config

T0 = 1_764_000_000.0  # 2025-11-24 16:00:00 UTC: in the past, so the outbox sends at once
API = "http://127.0.0.1:9/api"  # never probed: the tests hand in the probe's answer
COMMAND = "docker compose exec prefect-worker stackwatch"


class _Lines(HTMLParser):
    """The text a reader sees, one line per block (a table row's cells joined by " | ")."""

    BLOCKS = frozenset({"div", "p", "h2", "pre", "tr", "br", "title"})

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.line = ""
        self.skip = False

    def _flush(self) -> None:
        text = re.sub(r"\s+", " ", self.line).strip(" |")
        if text:
            self.lines.append(text)
        self.line = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self._flush()
        elif tag == "td" and self.line.strip():
            self.line += " | "
        self.skip = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.skip = False
            self.line = ""
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.line += data


def lines_of(html: str) -> list[str]:
    parser = _Lines()
    parser.feed(html)
    parser._flush()
    return parser.lines


@pytest.fixture(autouse=True)
def _no_prefect_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PREFECT_API_URL", "PREFECT_UI_URL"):
        monkeypatch.delenv(name, raising=False)


def _stopped(config: Config, smtp: SmtpServer) -> EmailMessage:
    """system-health-check (every 5m) last ran 15 min 1 s ago, services-health-check 5 min
    ago, the Prefect API has not answered for 15 min."""
    with AlertStore(config.state.path) as store:
        store.record_evaluation("system-health-check", T0, success=True)
        store.record_evaluation("services-health-check", T0 + 600, success=True)
    assert look(config, now=T0, probe=lambda _: False).decision.mail is None
    assert look(config, now=T0 + 901, probe=lambda _: False).decision.mail == STOPPED
    [mail] = smtp.messages
    return mail


def _resumed(config: Config, smtp: SmtpServer) -> EmailMessage:
    _stopped(config, smtp)
    with AlertStore(config.state.path) as store:
        store.record_evaluation("system-health-check", T0 + 1000, success=True)
    assert look(config, now=T0 + 1020, probe=lambda _: True).decision.mail == RESUMED
    return smtp.messages[-1]


STOPPED_SUBJECT = (
    "[WATCHDOG] checks stopped: system-health-check, last run at 2025-11-24 16:00:00 UTC,"
    " Prefect API: unreachable for 15 min"
)


def test_the_stopped_mail_says_what_stopped_the_api_and_what_to_run(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = watchdog_config(
        tmp_path, smtp_server, API, {"prefect_ui_url": "http://prefect.example.org:4200/"}
    )
    mail = _stopped(config, smtp_server)
    assert str(mail["Subject"]) == STOPPED_SUBJECT
    html = mail_html(mail)
    assert lines_of(html) == [
        "STOPPEDChecks stopped",
        STOPPED_SUBJECT,
        "No check has run for longer than the watchdog allows.",
        "Stopped: system-health-check.",
        "Prefect API: unreachable for 15 min.",
        "Prefect API",
        f"Unreachable for 15 min: {API}/health does not answer.",
        "Stopped (1)",
        "STOPPEDsystem-health-check",
        "last run | 2025-11-24 16:00:00 UTC, 15 min ago",
        "flow | system-health-check",
        "schedule | every 5m, cron */5 * * * * (UTC)",
        "Running (1)",
        "RUNNINGservices-health-check",
        "last run | 2025-11-24 16:10:00 UTC, 5 min ago",
        "flow | services-health-check",
        "schedule | every 10m, cron */10 * * * * (UTC)",
        "What to do",
        "The flows, their schedules and the rule groups each evaluates:",
        "stackwatch flows list",
        "Look again now and print what the watchdog finds:",
        "stackwatch watchdog --once",
        "Open the flow runs in the Prefect UI: whether runs are scheduled, late or crashed.",
        "stackwatch watchdog · looked 2025-11-24 16:15:01 UTC",
    ]
    assert 'href="http://prefect.example.org:4200/runs"' in html


def test_the_stopped_mail_text_reads_on_its_own(tmp_path: Path, smtp_server: SmtpServer) -> None:
    config = watchdog_config(tmp_path, smtp_server, API, {"command": COMMAND})
    mail = _stopped(config, smtp_server)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert str(body.get_content()).replace("\r\n", "\n") == (
        "No check has run for longer than the watchdog allows.\n"
        "\n"
        "Prefect API: unreachable for 15 min\n"
        "\n"
        "Stopped:\n"
        "  system-health-check: last run at 2025-11-24 16:00:00 UTC (15 min ago),"
        " scheduled every 5m\n"
        "    flow system-health-check, cron */5 * * * * (UTC)\n"
        "\n"
        "Running:\n"
        "  services-health-check: last run at 2025-11-24 16:10:00 UTC (5 min ago),"
        " scheduled every 10m\n"
        "    flow services-health-check, cron */10 * * * * (UTC)\n"
        "\n"
        "To look:\n"
        "  docker compose exec prefect-worker stackwatch flows list"
        "       the flows, their schedules and the rule groups each evaluates\n"
        "  docker compose exec prefect-worker stackwatch watchdog --once"
        "  look again now and print what the watchdog finds\n"
        "  Prefect UI, flow runs: http://127.0.0.1:9/runs\n"
    )


def test_the_resumed_mail_lists_the_groups_running_again(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    mail = _resumed(watchdog_config(tmp_path, smtp_server, API), smtp_server)
    assert str(mail["Subject"]) == "[WATCHDOG] checks resumed, Prefect API: reachable"
    assert lines_of(mail_html(mail)) == [
        "RESUMEDChecks resumed",
        "[WATCHDOG] checks resumed, Prefect API: reachable",
        "The checks run again.",
        "Prefect API",
        f"Reachable: {API}/health answers.",
        "Check groups (2)",
        "RUNNINGsystem-health-check",
        "last run | 2025-11-24 16:16:40 UTC, 20 s ago",
        "flow | system-health-check",
        "schedule | every 5m, cron */5 * * * * (UTC)",
        "RUNNINGservices-health-check",
        "last run | 2025-11-24 16:10:00 UTC, 7 min ago",
        "flow | services-health-check",
        "schedule | every 10m, cron */10 * * * * (UTC)",
        "stackwatch watchdog · looked 2025-11-24 16:17:00 UTC",
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_watchdog_mail_fits_the_screen(
    width: int,
    tmp_path: Path,
    smtp_server: SmtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    config = watchdog_config(tmp_path, smtp_server, API, {"command": COMMAND})
    html = mail_html(_stopped(config, smtp_server))
    shot = screenshot(html, "watchdog-mail", width, artifacts(tmp_path_factory))
    assert overflow(shot) is None, overflow(shot)
