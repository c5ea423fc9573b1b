"""Mail delivery: SMTP with an explicit TLS mode, or ``.eml`` files in a local outbox folder."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from stackwatch.config import SmtpConfig
from stackwatch.errors import StackwatchError

log = logging.getLogger(__name__)


class MailError(StackwatchError):
    """A message could not be handed to the SMTP server or written to the outbox."""


class TransientMailError(MailError):
    """The SMTP server was unreachable or answered 4xx: the message stays queued."""


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
    or ``none`` (port 25, e.g. a local Postfix relay). Permanent SMTP failures raise ``MailError``;
    connection failures and 4xx answers raise ``TransientMailError`` so callers keep the message
    queued and retry.
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

    def send(self, message: EmailMessage) -> None:
        if self.uses_outbox:
            self._write_outbox(message)
        else:
            self._send_smtp(message)

    def _write_outbox(self, message: EmailMessage) -> Path:
        folder = self.config.outbox_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
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

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.host is None:
            raise MailError("smtp.host is not set")
        port = config.effective_port
        context = ssl.create_default_context()
        if config.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, port, timeout=config.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, port, timeout=config.timeout)
            if config.tls == "starttls":
                smtp.starttls(context=context)
        if config.username:
            password = config.password.get() if config.password else ""
            smtp.login(config.username, password)
        return smtp

    def _send_smtp(self, message: EmailMessage) -> None:
        config = self.config
        where = f"{config.host}:{config.effective_port}"
        if not config.to and not message.get("To"):
            raise MailError("smtp.to: no recipients configured")
        try:
            with self._connect() as smtp:
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"SMTP login to {where} failed: {exc.smtp_error!r}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(
                f"SMTP server {where} does not support STARTTLS: set smtp.tls to ssl or none"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientMailError(f"SMTP server {where} deferred: {exc}") from exc
            raise MailError(f"SMTP server {where} refused the message: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"SMTP server {where} refused every recipient: {exc}") from exc
        except ssl.SSLError as exc:
            hint = " (port 465 wants smtp.tls: ssl)" if config.effective_port == 465 else ""
            raise MailError(f"TLS with {where} failed: {exc}{hint}") from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise TransientMailError(f"cannot deliver to SMTP server {where}: {exc}") from exc
        log.info("sent %r to %s via %s", message["Subject"], message["To"], where)
