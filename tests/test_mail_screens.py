"""The between-checks, flapping and watchdog mails in headless Chromium at a mail client's width
and a phone's: labels as long as Docker's and Compose's push nothing past the screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.between import Episode, notice_for
from alerter.model import FIRING, AlertState, fingerprint
from alerter.notify import FlapNotice, MailRenderer
from stackwatch.config import Config
from stackwatch.mail import Mailer
from tests.support.chromium import WIDTHS, artifacts, mail_html, overflow, screenshot

NOW = 1_764_000_000.0
CONTAINER_ID = "3f4e8a9b2c1d" + "0" * 52
LABELS = {
    "alertname": "ContainerRestarting",
    "container_id": CONTAINER_ID,
    "com_docker_compose_project_config_files": "/srv/stacks/payments/docker-compose.yml,"
    "/srv/stacks/payments/docker-compose.override.production.yml",
    "name": "payments-worker-1",
}
ANNOTATIONS = {"summary": "Container payments-worker-1 restarted 3 times in the last hour"}


def _config(tmp_path: Path) -> Config:
    return Config.model_validate(
        {
            "smtp": {"outbox_dir": str(tmp_path / "outbox"), "to": "ops@example.org"},
            "links": {"prefect_ui_url": "http://127.0.0.1:4200"},
        }
    )


def _between_html(config: Config) -> str:
    episode = Episode(
        fingerprint=fingerprint("containers", LABELS),
        group="containers",
        alertname="ContainerRestarting",
        labels=LABELS,
        annotations=ANNOTATIONS,
        active_since=NOW - 600,
        fired_at=NOW - 540,
        resolved_at=NOW - 300,
        peak=3.0,
        expr="increase(container_restarts_total[1h]) > 2",
    )
    notice = notice_for("containers", [episode], NOW - 900, NOW)
    assert notice is not None
    message = MailRenderer(config).compose(notice, Mailer(config.smtp), NOW)
    return mail_html(message)


def _flapping_html(config: Config) -> str:
    alert = AlertState(
        fingerprint=fingerprint("containers", LABELS),
        group="containers",
        alertname="ContainerRestarting",
        labels=LABELS,
        annotations=ANNOTATIONS,
        state=FIRING,
        value=3.0,
        active_since=NOW - 600,
        fired_at=NOW - 540,
        expr="increase(container_restarts_total[1h]) > 2",
    )
    notice = FlapNotice("containers", ((alert, 5),), 3600, 600)
    message = MailRenderer(config).compose(notice, Mailer(config.smtp), NOW)
    return mail_html(message)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_between_checks_mail_fits_the_screen(
    width: int, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    html = _between_html(_config(tmp_path))
    shot = screenshot(html, "between-mail", width, artifacts(tmp_path_factory))
    assert overflow(shot) is None, overflow(shot)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_flapping_mail_fits_the_screen(
    width: int, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    html = _flapping_html(_config(tmp_path))
    shot = screenshot(html, "flapping-mail", width, artifacts(tmp_path_factory))
    assert overflow(shot) is None, overflow(shot)
