"""The outbox against a real SMTP server (aiosmtpd) that refuses, defers or is slow to answer.

Mail is queued in a real state database and delivered with ``deliver``; times are injected so
the retry backoff is shown without waiting.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from alerter.delivery import deliver
from alerter.model import FIRING, AlertState
from alerter.notify import MailRenderer, Notification
from alerter.store import SCHEMA_VERSION, AlertStore
from stackwatch.cli import main
from stackwatch.mail import Mailer
from tests.support.outbox import outbox_config, queue_mail
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0


def _by_subject(prefix: str) -> Any:
    return lambda message: (
        "552 5.3.4 Message size exceeds fixed limit"
        if str(message["Subject"]).startswith(prefix)
        else None
    )


def test_a_refused_mail_is_dead_and_the_next_one_is_delivered(
    smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp_server.refuse_data = _by_subject("[FIRING:1] g: Huge")
    config = outbox_config(smtp_server, tmp_path)
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: Huge", NOW)
        queue_mail(store, "[FIRING:1] g: Small", NOW)
        result = deliver(store, Mailer(config.smtp), NOW)
        assert result.sent == ["[FIRING:1] g: Small"]
        assert result.dead == ["[FIRING:1] g: Huge"]
        assert any("552" in e and "Huge" in e for e in result.errors)
        [dead] = store.dead()
        assert dead.subject == "[FIRING:1] g: Huge"
        assert dead.last_error is not None
        assert "552" in dead.last_error
        assert store.queued() == []
        # a dead mail is not tried again
        assert deliver(store, Mailer(config.smtp), NOW + 86400).sent == []
    assert [str(m["Subject"]) for m in smtp_server.refused] == ["[FIRING:1] g: Huge"]
    assert [str(m["Subject"]) for m in smtp_server.messages] == ["[FIRING:1] g: Small"]

    config_file = tmp_path / "stackwatch.yml"
    config_file.write_text(f"state:\n  path: {config.state.path}\n")
    assert main(["alerts", "list", "-c", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "1 mail(s) not deliverable (dead)" in out
    assert "[FIRING:1] g: Huge" in out
    assert "552 5.3.4" in out


def test_a_deferred_mail_is_retried_with_backoff(smtp_server: SmtpServer, tmp_path: Path) -> None:
    smtp_server.refuse_data = lambda message: "451 4.3.0 Try again later"
    config = outbox_config(smtp_server, tmp_path, retry_interval="1m", retry_max_interval="10m")
    mailer = Mailer(config.smtp)
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: A", NOW)
        queue_mail(store, "[FIRING:1] h: B", NOW, group="h")
        # waits for the group's earlier mail: stays in order
        queue_mail(store, "[RESOLVED] g: A", NOW)
        first = deliver(store, mailer, NOW)
        assert first.sent == []
        assert first.dead == []
        assert len(smtp_server.refused) == 2  # a 4xx for one mail does not stop the next one
        [a, b, c] = store.queued()
        assert (b.attempts, c.attempts) == (1, 0)
        assert (a.attempts, a.next_attempt) == (1, NOW + 60)
        assert a.last_error is not None
        assert "451" in a.last_error
        assert deliver(store, mailer, NOW + 30).sent == []  # not yet due: not tried
        assert len(smtp_server.refused) == 2
        deliver(store, mailer, NOW + 61)  # due: tried again, the wait doubles
        assert len(smtp_server.refused) == 4
        assert store.queued()[0].next_attempt == NOW + 61 + 120
        smtp_server.refuse_data = None
        assert deliver(store, mailer, NOW + 200).sent == [
            "[FIRING:1] g: A",
            "[FIRING:1] h: B",
            "[RESOLVED] g: A",
        ]
        assert store.queued() == []
        assert store.dead() == []


def test_an_unreachable_server_leaves_every_mail_queued(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = outbox_config(smtp_server, tmp_path)
    smtp_server.stop()
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: A", NOW)
        queue_mail(store, "[FIRING:1] h: B", NOW, group="h")
        result = deliver(store, Mailer(config.smtp), NOW)
        assert (result.sent, result.dead) == ([], [])
        assert [m.attempts for m in store.queued()] == [1, 0]  # the server is down: stop there
        smtp_server.start()
        later = deliver(store, Mailer(config.smtp), NOW + 3600)
        assert later.sent == ["[FIRING:1] g: A", "[FIRING:1] h: B"]


def test_a_huge_label_gives_a_mail_a_size_limited_server_accepts(tmp_path: Path) -> None:
    server = SmtpServer(data_size_limit=64 * 1024).start()
    try:
        config = outbox_config(server, tmp_path)
        huge = "x" * 100_000
        alert = AlertState(
            "fp",
            "g",
            "Huge",
            {"alertname": "Huge", "host": "h", "blob": huge},
            {"summary": "s " + huge, "description": huge, "other": huge},
            FIRING,
            1.0,
            NOW,
            NOW,
        )
        message = MailRenderer(config).compose(
            Notification("g", (alert,), (), (alert,)), Mailer(config.smtp), NOW
        )
        assert len(message.as_bytes()) < 32 * 1024
        text = message.get_body(preferencelist=("plain",))
        assert text is not None
        assert "… (cut)" in str(text.get_content())
        Mailer(config.smtp).send(message)
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_one_refused_recipient_is_dead_the_other_is_done(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    smtp_server.refuse_rcpt = lambda address: (
        "550 5.1.1 No such user" if address == "oncall@stackwatch.test" else None
    )
    config = outbox_config(smtp_server, tmp_path)
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: A", NOW)
        result = deliver(store, Mailer(config.smtp), NOW)
        assert result.sent == ["[FIRING:1] g: A"]
        assert any("oncall@stackwatch.test" in e and "550" in e for e in result.errors)
        [dead] = store.dead()
        assert dead.dead_to == {"oncall@stackwatch.test": dead.dead_to["oncall@stackwatch.test"]}
        assert "550" in dead.dead_to["oncall@stackwatch.test"]
        assert deliver(store, Mailer(config.smtp), NOW + 3600).sent == []
    assert [m["X-Envelope-To"] for m in smtp_server.messages] == ["ops@stackwatch.test"]


def test_a_deferred_recipient_is_retried_alone(smtp_server: SmtpServer, tmp_path: Path) -> None:
    smtp_server.refuse_rcpt = lambda address: (
        "450 4.2.0 Mailbox busy" if address == "oncall@stackwatch.test" else None
    )
    config = outbox_config(smtp_server, tmp_path, retry_interval="1m")
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: A", NOW)
        first = deliver(store, Mailer(config.smtp), NOW)
        assert first.sent == ["[FIRING:1] g: A"]  # to ops
        assert any("oncall@stackwatch.test" in e and "450" in e for e in first.errors)
        [mail] = store.queued()
        assert mail.pending_to == ["oncall@stackwatch.test"]
        smtp_server.refuse_rcpt = None
        assert deliver(store, Mailer(config.smtp), NOW + 61).sent == ["[FIRING:1] g: A"]
    assert [m["X-Envelope-To"] for m in smtp_server.messages] == [
        "ops@stackwatch.test",
        "oncall@stackwatch.test",
    ]
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 1


def test_a_slow_acknowledgement_gets_one_copy(smtp_server: SmtpServer, tmp_path: Path) -> None:
    """The server stores the message, then waits longer than smtp.timeout before its 250."""
    smtp_server.ack_delay = 2.0
    config = outbox_config(smtp_server, tmp_path, timeout="1s", data_timeout="30s")
    with AlertStore(config.state.path) as store:
        queue_mail(store, "[FIRING:1] g: A", NOW)
    results: list[Any] = []

    def run() -> None:
        with AlertStore(config.state.path) as store:
            results.append(deliver(store, Mailer(config.smtp), time.time()))

    first = threading.Thread(target=run)
    first.start()
    assert smtp_server.data_received.wait(10)
    run()  # overlapping: the first delivery still holds the claim
    first.join(30)
    run()  # a later run: nothing left to send
    assert sorted(len(r.sent) for r in results) == [0, 0, 1]
    assert len(smtp_server.messages) == 1


def test_a_resolve_replaces_the_unsent_firing_mail(tmp_path: Path) -> None:
    with AlertStore(tmp_path / "state.db") as store:
        store.enqueue("g", "[FIRING:1] g: A", b"firing", NOW, alerts=["fp-a"])
        store.enqueue("g", "[FIRING:2] g: A, C", b"firing", NOW + 30, alerts=["fp-a", "fp-c"])
        store.enqueue("h", "[FIRING:1] h: B", b"other group", NOW, alerts=["fp-b"])
        store.enqueue("g", "[RESOLVED] g: A", b"resolved", NOW + 60, alerts=["fp-a"])
        # the mail that also reports C stays: the resolve does not say what became of C
        assert [m.subject for m in store.queued()] == [
            "[FIRING:2] g: A, C",
            "[FIRING:1] h: B",
            "[RESOLVED] g: A",
        ]
        store.enqueue("g", "[RESOLVED] g: A, C", b"resolved", NOW + 90, alerts=["fp-a", "fp-c"])
        assert [m.subject for m in store.queued()] == ["[FIRING:1] h: B", "[RESOLVED] g: A, C"]


V1_DUMP = Path(__file__).parent / "fixtures" / "state" / "schema-v1.sql"


def _v1_database(path: Path) -> None:
    """A database as schema version 1 wrote it (dumped from it), with one queued mail."""
    db = sqlite3.connect(path)
    db.executescript(V1_DUMP.read_text())
    db.commit()
    db.close()


def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _v1_database(path)
    with AlertStore(path) as store:
        [old] = store.queued()
        assert (old.subject, old.attempts, old.last_error) == (
            "[FIRING:1] g: Old",
            1,
            "connection refused",
        )
        assert old.next_attempt is None
        assert old.pending_to is None
        version = store._db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION)
        store.mark_dead(old.id, "552 too big", NOW)  # the new columns work
        assert [m.subject for m in store.dead()] == ["[FIRING:1] g: Old"]
    with AlertStore(path) as store:  # opening again changes nothing
        assert len(store.dead()) == 1
