"""Mail that only ever meets transient failures is given up after ``smtp.give_up_after``.

A real SMTP server (aiosmtpd) answers 451 or 450 forever, or is not running at all; the clock
is injected, so days pass without waiting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.delivery import deliver
from alerter.store import AlertStore
from stackwatch.config import parse_config
from stackwatch.config.load import ConfigValidationError
from stackwatch.mail import Mailer
from tests.support.outbox import outbox_config, queue_mail
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0
DAY = 86400.0


def test_a_mail_deferred_for_days_is_given_up_as_dead(
    smtp_server: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.refuse_data = lambda message: "451 4.3.0 Try again later"
    config = outbox_config(smtp_server, tmp_path)  # give_up_after: the default, 3d
    mailer = Mailer(config.smtp)
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: A", NOW)
        assert deliver(store, mailer, NOW).dead == []
        assert deliver(store, mailer, NOW + 2 * DAY).dead == []  # two days: still retried
        [mail] = store.queued()
        assert mail.attempts == 2
        result = deliver(store, mailer, NOW + 3 * DAY + 1)
        assert result.dead == ["[FIRING:1] g: A"]
        assert store.queued() == []
        [dead] = store.dead()
        assert dead.last_error is not None
        assert dead.last_error.startswith("gave up after 3d: last answer ")
        assert "451 4.3.0 Try again later" in dead.last_error
        assert any("gave up after 3d" in e for e in result.errors)
        assert deliver(store, mailer, NOW + 10 * DAY).sent == []  # never tried again
    assert len(smtp_server.refused) == 3
    [line] = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert "ops@stackwatch.test" in line
    assert "oncall@stackwatch.test" in line


def test_a_deferred_recipient_is_given_up_alone(smtp_server: SmtpServer, tmp_path: Path) -> None:
    smtp_server.refuse_rcpt = lambda address: (
        "450 4.2.0 Mailbox busy" if address == "oncall@stackwatch.test" else None
    )
    config = outbox_config(smtp_server, tmp_path, give_up_after="1h", retry_interval="10m")
    mailer = Mailer(config.smtp)
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: A", NOW)
        assert deliver(store, mailer, NOW).sent == ["[FIRING:1] g: A"]  # to ops
        deliver(store, mailer, NOW + 3601)
        assert store.queued() == []
        [dead] = store.dead()
        assert list(dead.dead_to) == ["oncall@stackwatch.test"]
        answer = dead.dead_to["oncall@stackwatch.test"]
        assert answer.startswith("gave up after 1h: last answer 450 4.2.0 Mailbox busy")
    assert [m["X-Envelope-To"] for m in smtp_server.messages] == ["ops@stackwatch.test"]


def test_with_the_server_unreachable_every_expired_mail_is_given_up(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = outbox_config(smtp_server, tmp_path, give_up_after="1d")
    smtp_server.stop()
    mailer = Mailer(config.smtp)
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: A", NOW)
        queue_mail(store, "[FIRING:1] h: B", NOW, group="h")
        store.enqueue("k", "[FIRING:1] k: fresh", b"Subject: fresh\r\n\r\nbody\r\n", NOW + DAY)
        deliver(store, mailer, NOW)
        result = deliver(store, mailer, NOW + DAY + 60)
        assert sorted(result.dead) == ["[FIRING:1] g: A", "[FIRING:1] h: B"]
        dead = store.dead()
        assert all((m.last_error or "").startswith("gave up after 1d: last answer ") for m in dead)
        assert all("cannot deliver to SMTP server" in (m.last_error or "") for m in dead)
        # a mail queued a minute ago waits for the server
        assert [m.subject for m in store.queued()] == ["[FIRING:1] k: fresh"]


@pytest.mark.parametrize(
    ("value", "message"),
    [("30s", "must be between 1m and 30d"), ("31d", "must be between 1m and 30d")],
)
def test_give_up_after_has_a_range(value: str, message: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        parse_config(f"smtp:\n  give_up_after: {value}\n", "stackwatch.yml")
    assert str(info.value.problems[0]) == f"stackwatch.yml:2: smtp.give_up_after: {message}"
