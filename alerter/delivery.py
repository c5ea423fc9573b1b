"""Delivery of the outbox: each queued mail on its own, recipients one by one."""

from __future__ import annotations

import email
import email.policy
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

from alerter.store import AlertStore, QueuedMail
from stackwatch.config import SmtpConfig
from stackwatch.mail import Mailer, MailError, MailRefusedError, TransientMailError, recipients

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What one pass over the outbox did."""

    sent: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def backoff(config: SmtpConfig, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed try: doubling, capped."""
    return min(config.retry_interval * 2.0 ** max(attempts - 1, 0), config.retry_max_interval)


def _parse(mail: QueuedMail) -> EmailMessage:
    message = email.message_from_bytes(mail.message, policy=email.policy.default)
    if not isinstance(message, EmailMessage):  # the default policy always builds one
        raise MailError(f"outbox mail {mail.id} cannot be parsed")
    return message


def deliver(store: AlertStore, mailer: Mailer, now: float) -> Delivery:
    """Send every queued mail that is due, oldest first, each on its own.

    A mail refused for good (5xx) is dead and the next one is tried; a deferred one (4xx) waits
    its backoff; when the server cannot be reached (or the login fails) the rest wait for the
    next run. Recipients are tracked one by one. A later mail of a group whose earlier mail is
    still queued waits too, so a group's mails arrive in order.
    """
    result = Delivery()
    held: set[str] = set()  # groups with an earlier mail still queued
    for mail in store.queued():
        if mail.group in held:
            continue
        message = _parse(mail)
        to = mail.pending_to if mail.pending_to is not None else recipients(message)
        if not to:
            to = list(mailer.config.to)
        if not store.claim(mail.id, now, mailer.claim_seconds(len(to))):
            held.add(mail.group)  # another run is delivering it, or it is not due yet
            continue
        retry_at = now + backoff(mailer.config, mail.attempts + 1)
        try:
            refused = mailer.send_to(message, to)
        except MailRefusedError as exc:
            store.mark_dead(mail.id, str(exc), now)
            result.dead.append(mail.subject)
            result.errors.append(f"mail {mail.subject!r} refused for good, kept as dead: {exc}")
            log.error("mail %r refused for good, kept as dead: %s", mail.subject, exc)
            continue
        except TransientMailError as exc:
            store.mark_failed(mail.id, str(exc), retry_at)
            result.errors.append(f"mail {mail.subject!r} queued for retry: {exc}")
            log.warning("mail %r stays queued: %s", mail.subject, exc)
            held.add(mail.group)
            if exc.code is None:
                break  # the server is unreachable: the others wait for the next run too
            continue
        except MailError as exc:
            store.mark_failed(mail.id, str(exc), retry_at)
            result.errors.append(f"mail {mail.subject!r} not delivered (kept in the outbox): {exc}")
            log.error("mail %r not delivered, kept in the outbox: %s", mail.subject, exc)
            break
        done_at = datetime.now(tz=UTC).timestamp()
        if not refused:
            store.mark_sent(mail.id, done_at)
            result.sent.append(mail.subject)
            continue
        dead = {a: text for a, (code, text) in refused.items() if code >= 500}
        pending = [a for a in to if a in refused and a not in dead]
        for address, (_, text) in refused.items():
            fate = "refused for good" if address in dead else "deferred, retried later"
            result.errors.append(f"mail {mail.subject!r} to {address} {fate}: {text}")
            log.warning("mail %r to %s %s: %s", mail.subject, address, fate, text)
        error = "; ".join(f"{a}: {t}" for a, (_, t) in refused.items())
        store.mark_recipients(
            mail.id, pending=pending, dead=dead, error=error, next_attempt=retry_at, now=done_at
        )
        if len(refused) < len(to):
            result.sent.append(mail.subject)
        if pending:
            held.add(mail.group)
        elif dead and len(refused) == len(to):
            result.dead.append(mail.subject)
    return result
