"""Mail delivery: SMTP with an explicit TLS mode, or ``.eml`` files in a local outbox folder."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

from stackwatch.config import SmtpConfig
from stackwatch.errors import StackwatchError
from stackwatch.private import private_dirs

log = logging.getLogger(__name__)


class MailError(StackwatchError):
    """A message could not be handed to the SMTP server or written to the outbox."""


class TransientMailError(MailError):
    """The SMTP server was unreachable or answered 4xx: the message stays queued.

    ``code`` is the server's 4xx answer to this message; None when no server could be reached.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MailRefusedError(MailError):
    """The SMTP server refused this message for good (5xx): sending it again cannot help."""


#: Recipients the server refused, each with its answer ``(code, text)``.
Refused = dict[str, tuple[int, str]]


def answer_text(code: int, text: bytes | str) -> str:
    """An SMTP answer as one readable line: ``552 5.3.4 Message too big``."""
    words = text.decode(errors="replace") if isinstance(text, bytes) else text
    return clean_header(f"{code} {words}")


def recipients(message: EmailMessage) -> list[str]:
    """The envelope recipients of a message, from its To, Cc and Bcc headers."""
    fields = [str(v) for key in ("To", "Cc", "Bcc") for v in message.get_all(key, [])]
    return [address for _, address in getaddresses(fields) if address]


class _AckWait(smtplib.SMTP):
    """smtplib's client, waiting ``ack_timeout`` for the answer to the message's final dot.

    A server may take long to acknowledge a message it is already storing (RFC 5321 4.5.3.2.6
    suggests waiting 10 minutes); giving up early would send it again on the next run.
    """

    ack_timeout = 600.0

    def send(self, s: bytes | str) -> None:  # type: ignore[override]
        super().send(s)
        # smtplib sends commands as str and only the message body as bytes
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n") and self.sock is not None:
            self.sock.settimeout(self.ack_timeout)

    def data(self, msg: bytes | str) -> tuple[int, bytes]:  # type: ignore[override]
        try:
            return super().data(msg)
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)


class _SslAckWait(_AckWait, smtplib.SMTP_SSL):
    """The same over implicit TLS."""


def clean_header(value: str) -> str:
    """Fold CR/LF and other control characters to spaces so a value cannot add headers."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


@dataclass(frozen=True)
class InlineImage:
    """An image shown inside the HTML part, referenced there as ``cid:<cid>``."""

    cid: str
    data: bytes
    subtype: str = "png"


def compose(
    subject: str,
    text: str,
    html: str,
    *,
    sender: str,
    to: list[str],
    headers: Mapping[str, str] | None = None,
    images: list[InlineImage] | None = None,
    domain: str = "stackwatch.local",
) -> EmailMessage:
    """A multipart/alternative message (text first, HTML preferred) with optional inline images."""
    message = EmailMessage()
    message["Subject"] = clean_header(subject)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(datetime.now(tz=UTC))
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in (headers or {}).items():
        message[name] = clean_header(value)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if images:
        html_part = message.get_body(preferencelist=("html",))
        if not isinstance(html_part, EmailMessage):
            raise MailError("composed message has no HTML part")
        for image in images:
            html_part.add_related(
                image.data,
                maintype="image",
                subtype=image.subtype,
                cid=f"<{image.cid}>",
                disposition="inline",
                filename=f"{image.cid}.{image.subtype}",
            )
    return message


class Mailer:
    """Hands messages to the configured SMTP server, or writes them to the outbox folder.

    ``smtp.tls`` is explicit: ``starttls`` (port 587 by default), ``ssl`` (implicit TLS, port 465)
    or ``none`` (port 25, e.g. a local Postfix relay). A permanent refusal of the message (5xx)
    raises ``MailRefusedError``; connection failures and 4xx answers raise ``TransientMailError``
    so callers keep the message queued and retry; any other ``MailError`` (login, TLS) is a
    problem of the setup, not of the message.
    """

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    @property
    def uses_outbox(self) -> bool:
        return self.config.host is None

    def describe(self) -> str:
        if self.uses_outbox:
            return f"outbox folder {self.config.outbox_dir.resolve()}"
        return f"smtp://{self.config.host}:{self.config.effective_port} (tls: {self.config.tls})"

    def compose(
        self,
        subject: str,
        text: str,
        html: str,
        *,
        headers: Mapping[str, str] | None = None,
        images: list[InlineImage] | None = None,
    ) -> EmailMessage:
        """A message from the configured sender to the configured recipients."""
        return compose(
            subject,
            text,
            html,
            sender=self.config.sender,
            to=list(self.config.to),
            headers=headers,
            images=images,
        )

    def claim_seconds(self, recipient_count: int) -> float:
        """An upper bound of one SMTP conversation: each step within ``smtp.timeout`` (about ten
        steps and one per recipient), the message's acknowledgement within ``smtp.data_timeout``."""
        return self.config.timeout * (10 + recipient_count) + self.config.data_timeout + 30

    def send(self, message: EmailMessage) -> Refused:
        """Deliver to every recipient of the message; returns those the server refused.

        Raises when the server refused every recipient (``MailRefusedError`` when each refusal
        is permanent).
        """
        to = recipients(message) or list(self.config.to)
        refused = self.send_to(message, to)
        for address, (code, text) in refused.items():
            log.warning(
                "recipient %s refused %r: %s", address, message["Subject"], answer_text(code, text)
            )
        if refused and len(refused) == len(to):
            answers = "; ".join(f"{a}: {answer_text(*r)}" for a, r in refused.items())
            if all(code >= 500 for code, _ in refused.values()):
                raise MailRefusedError(f"SMTP server refused every recipient: {answers}")
            raise TransientMailError(f"SMTP server deferred every recipient: {answers}", 450)
        return refused

    def send_to(self, message: EmailMessage, to: Sequence[str]) -> Refused:
        """Deliver to the envelope recipients ``to``; returns those refused (maybe all)."""
        if self.uses_outbox:
            self._write_outbox(message)
            return {}
        return self._send_smtp(message, to)

    def _write_outbox(self, message: EmailMessage) -> Path:
        folder = self.config.outbox_dir
        try:
            private_dirs(folder)  # the .eml files are 0600 already (mkstemp)
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            msgid = str(message.get("Message-ID", "")).strip("<>").split("@")[0] or "message"
            path = folder / f"{stamp}-{msgid}.eml"
            # write then rename, so a reader never sees half a message
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            Path(tmp).replace(path)
        except OSError as exc:
            raise TransientMailError(f"cannot write to outbox {folder}: {exc}") from exc
        log.info("wrote %s", path)
        return path

    def _connect(self) -> _AckWait:
        config = self.config
        if config.host is None:
            raise MailError("smtp.host is not set")
        port = config.effective_port
        context = ssl.create_default_context()
        if config.tls == "ssl":
            smtp: _AckWait = _SslAckWait(config.host, port, timeout=config.timeout, context=context)
        else:
            smtp = _AckWait(config.host, port, timeout=config.timeout)
            if config.tls == "starttls":
                smtp.starttls(context=context)
        smtp.ack_timeout = max(config.timeout, config.data_timeout)
        if config.username:
            password = config.password.get() if config.password else ""
            smtp.login(config.username, password)
        return smtp

    def _send_smtp(self, message: EmailMessage, to: Sequence[str]) -> Refused:
        config = self.config
        where = f"{config.host}:{config.effective_port}"
        if not to:
            raise MailError("smtp.to: no recipients configured")
        try:
            with self._connect() as smtp:
                refused: Refused = {
                    a: (code, answer_text(code, text))
                    for a, (code, text) in smtp.send_message(message, to_addrs=list(to)).items()
                }
        except smtplib.SMTPRecipientsRefused as exc:
            return {
                a: (code, answer_text(code, text)) for a, (code, text) in exc.recipients.items()
            }
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"SMTP login to {where} failed: {exc.smtp_error!r}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(
                f"SMTP server {where} does not support STARTTLS: set smtp.tls to ssl or none"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            answer = answer_text(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                raise TransientMailError(
                    f"SMTP server {where} deferred the message: {answer}", exc.smtp_code
                ) from exc
            raise MailRefusedError(f"SMTP server {where} refused the message: {answer}") from exc
        except ssl.SSLError as exc:
            hint = " (port 465 wants smtp.tls: ssl)" if config.effective_port == 465 else ""
            raise MailError(f"TLS with {where} failed: {exc}{hint}") from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise TransientMailError(f"cannot deliver to SMTP server {where}: {exc}") from exc
        accepted = [a for a in to if a not in refused]
        if accepted:
            log.info("sent %r to %s via %s", message["Subject"], ", ".join(accepted), where)
        return refused
