"""``kill -9`` of a process in the middle of sending: at most the mail in flight arrives twice.

A real subprocess delivers the outbox to a real SMTP server (aiosmtpd) whose DATA handler holds
the first message, unacknowledged, until the test releases it; the process is killed while it
waits, and a new process delivers again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from alerter.store import AlertStore
from stackwatch.mail import compose
from tests.support.outbox import SENDER, smtp_settings
from tests.support.smtp import SmtpServer, _Collect
from tests.support.timing import within

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
TO = ["ops@stackwatch.test"]

DELIVER = """
import sys, time
from alerter.delivery import deliver
from alerter.store import AlertStore
from stackwatch.config import load_config
from stackwatch.mail import Mailer

config = load_config(sys.argv[1])
with AlertStore(config.state.path) as store:
    result = deliver(store, Mailer(config.smtp), time.time() + float(sys.argv[2]))
print(result.sent, result.dead, result.errors)
"""


class _Stalling(_Collect):
    """Stores the first message it receives, then holds its acknowledgement until ``release``
    is set: the client cannot know the server has it (nor can aiosmtpd, which drops the
    handler when the client goes away, store a message only after the wait)."""

    def __init__(self, server: StallingSmtpServer) -> None:
        super().__init__(server)
        self.stalling = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        answer = await super().handle_DATA(server, session, envelope)
        if not self.stalling.stalled.is_set():
            self.stalling.stalled.set()
            while not self.stalling.release.is_set():
                await asyncio.sleep(0.02)
        return answer


class StallingSmtpServer(SmtpServer):
    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()
        self.release = threading.Event()

    def start(self) -> StallingSmtpServer:
        from aiosmtpd.controller import Controller

        self._controller = Controller(_Stalling(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self


def _deliver(config_file: Path, clock_offset: float) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STACKWATCH")}
    environ["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-c", DELIVER, str(config_file), str(clock_offset)],
        cwd=config_file.parent,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_in_data_sends_at_most_the_mail_in_flight_twice(tmp_path: Path) -> None:
    server = StallingSmtpServer().start()
    try:
        db = tmp_path / "state.db"
        config_file = tmp_path / "stackwatch.yml"
        config_file.write_text(
            json.dumps(
                {
                    "smtp": smtp_settings(server, to=TO),
                    "state": {"path": str(db)},
                }
            )
        )
        sender = SENDER
        with AlertStore(db) as store:
            firing = compose("[FIRING:1] g: A", "firing", "<p>firing</p>", sender=sender, to=TO)
            store.enqueue("g", "[FIRING:1] g: A", firing.as_bytes(), time.time(), alerts=["fp-a"])

        first = _deliver(config_file, 0)
        try:
            assert server.stalled.wait(within(20)), "the first delivery never reached DATA"
            # the alert resolves while its firing mail is in flight
            with AlertStore(db) as store:
                resolved = compose(
                    "[RESOLVED] g: A", "resolved", "<p>resolved</p>", sender=sender, to=TO
                )
                store.enqueue(
                    "g", "[RESOLVED] g: A", resolved.as_bytes(), time.time(), alerts=["fp-a"]
                )
            first.send_signal(signal.SIGKILL)
            assert first.wait(within(10)) == -signal.SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
            first.communicate()
        server.release.set()
        assert [str(m["Subject"]) for m in server.messages] == ["[FIRING:1] g: A"]

        # a run within the dead process's claim sends nothing: the mail may still be in flight
        soon = _deliver(config_file, 0)
        _out, err = soon.communicate(timeout=within(60))
        assert soon.returncode == 0, err
        assert [str(m["Subject"]) for m in server.messages] == ["[FIRING:1] g: A"]

        # a run after the claim ran out delivers the rest, in order
        later = _deliver(config_file, 3600)
        _out, err = later.communicate(timeout=within(60))
        assert later.returncode == 0, err

        subjects = [str(m["Subject"]) for m in server.messages]
        assert subjects.count("[RESOLVED] g: A") == 1
        assert 1 <= subjects.count("[FIRING:1] g: A") <= 2  # at most the one in flight twice
        firing_ids = {m["Message-ID"] for m in server.messages if "FIRING" in m["Subject"]}
        assert firing_ids == {firing["Message-ID"]}  # the copies are one message
        last_firing = max(i for i, s in enumerate(subjects) if s.startswith("[FIRING"))
        assert last_firing < subjects.index("[RESOLVED] g: A")
        with AlertStore(db) as store:
            assert store.queued() == []
            assert store.dead() == []
    finally:
        server.release.set()
        server.stop()
