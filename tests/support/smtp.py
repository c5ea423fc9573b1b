"""A real SMTP server (aiosmtpd) in the test process, keeping every message it accepts.

``refuse_data`` and ``refuse_rcpt`` make it answer like a real server that refuses: a function
of the message (or the recipient) returning an SMTP reply such as ``"552 5.3.4 too big"``, or
None to accept. ``data_size_limit`` is aiosmtpd's own limit (advertised as SIZE, answered 552).
``ack_delay`` stores the message and then waits that long before acknowledging it.
``login`` (user, password) makes it require AUTH (PLAIN or LOGIN, over plain text as a local
relay may); ``auth_attempts`` keeps each login tried.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.procs import free_port


class _Collect:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        answer = self.server.refuse_rcpt(address) if self.server.refuse_rcpt else None
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        answer = self.server.refuse_data(message) if self.server.refuse_data else None
        if answer is not None:
            self.server.refused.append(message)
            return answer
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.server.messages.append(message)
        if self.server.ack_delay:
            self.server.data_received.set()
            await asyncio.sleep(self.server.ack_delay)
        return "250 Message accepted for delivery"


class SmtpServer:
    """Start/stop at will to simulate an outage; ``messages`` holds what was delivered."""

    def __init__(
        self, *, data_size_limit: int = 33554432, login: tuple[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.messages: list[EmailMessage] = []
        self.refused: list[EmailMessage] = []
        self.refuse_data: Callable[[EmailMessage], str | None] | None = None
        self.refuse_rcpt: Callable[[str], str | None] | None = None
        self.ack_delay = 0.0
        self.data_received = threading.Event()
        self.data_size_limit = data_size_limit
        self.login = login
        self.auth_attempts: list[str] = []
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        auth: dict[str, Any] = {}
        if self.login is not None:
            auth = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self._controller = Controller(
            _Collect(self),
            hostname=self.host,
            port=self.port,
            data_size_limit=self.data_size_limit,
            **auth,
        )
        self._controller.start()
        return self

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        self.auth_attempts.append(user)
        # handled=False: aiosmtpd itself answers 535 to a refused login
        return AuthResult(success=(user, password) == self.login, handled=False)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
