"""Delivery of the outbox: each queued mail on its own, recipients one by one."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

from alerter.receivers import ReceiverError, TransientReceiverError, send_apprise, send_webhook
from alerter.store import AlertStore, QueuedMail
from stackwatch.config import NotifyConfig, SmtpConfig
from stackwatch.errors import ConfigError
from stackwatch.format import format_duration
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


def gave_up(config: SmtpConfig, answer: str) -> str:
    """Why a mail that met only transient failures for ``smtp.give_up_after`` is dead."""
    return f"gave up after {format_duration(config.give_up_after)}: last answer {answer}"


def _expired(config: SmtpConfig, mail: QueuedMail, now: float) -> bool:
    return now - mail.created_at.timestamp() >= config.give_up_after


def _give_up(
    store: AlertStore,
    mail: QueuedMail,
    to: Sequence[str],
    reason: str,
    now: float,
    result: Delivery,
) -> None:
    store.mark_dead(mail.id, reason, now)
    result.dead.append(mail.subject)
    result.errors.append(f"mail {mail.subject!r} to {', '.join(to)}: {reason}")
    log.error("mail %r to %s: %s", mail.subject, ", ".join(to), reason)


def _give_up_waiting(
    store: AlertStore,
    mailer: Mailer,
    waiting: Sequence[QueuedMail],
    held: set[str],
    answer: str,
    now: float,
    result: Delivery,
) -> None:
    """With the server unreachable, give up the waiting mails past ``smtp.give_up_after``
    without trying them: each has waited that long, and the server just failed again."""
    for mail in waiting:
        if mail.group in held:
            continue
        if not _expired(mailer.config, mail, now):
            held.add(mail.group)  # its group's later mails keep waiting behind it
            continue
        to = _recipients(mail, mailer)
        if store.claim(mail.id, now, mailer.claim_seconds(len(to))):
            _give_up(store, mail, to, gave_up(mailer.config, answer), now, result)
        else:
            held.add(mail.group)


def _recipients(mail: QueuedMail, mailer: Mailer) -> list[str]:
    to = mail.pending_to if mail.pending_to is not None else recipients(_parse(mail))
    return list(to) or list(mailer.config.to)


def _is_mail(mail: QueuedMail, notify: NotifyConfig | None) -> bool:
    if mail.receiver is None:
        return True
    receiver = notify.receiver_config(mail.receiver) if notify is not None else None
    return receiver is not None and receiver.kind == "email"


def _lease(mail: QueuedMail, notify: NotifyConfig) -> float:
    """An upper bound of one send: each phase of the request within the webhook's timeout
    (connect, write, read); Apprise's own timeouts are a few seconds each."""
    receiver = notify.receiver_config(mail.receiver or "")
    if receiver is not None and receiver.webhook is not None:
        return receiver.webhook.timeout * 4 + 30
    return 120.0


def _send_to_receiver(mail: QueuedMail, notify: NotifyConfig) -> None:
    receiver = notify.receiver_config(mail.receiver or "")
    if receiver is None:
        raise ReceiverError(f"receiver {mail.receiver!r} is no longer in notify.receivers")
    try:
        if receiver.webhook is not None:
            send_webhook(receiver.webhook, mail.message)
        elif receiver.apprise is not None:
            send_apprise(receiver.apprise, mail.message)
    except ConfigError as exc:  # its secret cannot be read: fixed in the setup, then retried
        raise TransientReceiverError(str(exc)) from None


def _deliver_to_receivers(
    store: AlertStore,
    mails: Sequence[QueuedMail],
    notify: NotifyConfig,
    config: SmtpConfig,
    now: float,
    result: Delivery,
) -> None:
    """Webhook and Apprise messages, each receiver on its own: one that is down holds only its
    own later messages (so a group's arrive in order), never mail or another receiver's."""
    held: set[tuple[str, str | None]] = set()
    for mail in mails:
        lane = (mail.group, mail.receiver)
        if lane in held:
            continue
        if not store.claim(mail.id, now, _lease(mail, notify)):
            held.add(lane)
            continue
        where = f"{mail.subject!r} to receiver {mail.receiver}"
        try:
            _send_to_receiver(mail, notify)
        except TransientReceiverError as exc:
            if _expired(config, mail, now):
                reason = gave_up(config, str(exc))
                store.mark_dead(mail.id, reason, now)
                result.dead.append(mail.subject)
                result.errors.append(f"{where}: {reason}")
                log.error("%s: %s", where, reason)
            else:
                store.mark_failed(mail.id, str(exc), now + backoff(config, mail.attempts + 1))
                result.errors.append(f"{where} queued for retry: {exc}")
                log.warning("%s stays queued: %s", where, exc)
                held.add(lane)
            continue
        except ReceiverError as exc:
            store.mark_dead(mail.id, str(exc), now)
            result.dead.append(mail.subject)
            result.errors.append(f"{where} refused for good, kept as dead: {exc}")
            log.error("%s refused for good, kept as dead: %s", where, exc)
            continue
        store.mark_sent(mail.id, datetime.now(tz=UTC).timestamp())
        result.sent.append(mail.subject)
        log.info("sent %s", where)


def deliver(
    store: AlertStore, mailer: Mailer, now: float, notify: NotifyConfig | None = None
) -> Delivery:
    """Send every queued mail that is due, oldest first, each on its own.

    A mail refused for good (5xx) is dead and the next one is tried; a deferred one (4xx) waits
    its backoff; when the server cannot be reached (or the login fails) the rest wait for the
    next run. A mail (or recipient) that met only such transient failures for
    ``smtp.give_up_after`` since it was queued is dead too. Recipients are tracked one by one.
    A later mail of a group whose earlier mail is still queued waits too, so a group's mails
    arrive in order. Messages to webhook and Apprise receivers (``notify``) are sent after the
    mail, with the same backoff and ``smtp.give_up_after``.
    """
    config = mailer.config
    result = Delivery()
    queued = store.queued()
    others = [m for m in queued if not _is_mail(m, notify)]
    if others:
        # a message whose receiver is gone from the config is dead, with that reason
        _deliver_to_receivers(store, others, notify or NotifyConfig(), config, now, result)
    _deliver_mail(store, mailer, [m for m in queued if _is_mail(m, notify)], now, result)
    return result


def _deliver_mail(
    store: AlertStore, mailer: Mailer, mails: Sequence[QueuedMail], now: float, result: Delivery
) -> None:
    config = mailer.config
    held: set[str] = set()  # groups with an earlier mail still queued
    for index, mail in enumerate(mails):
        if mail.group in held:
            continue
        message = _parse(mail)
        to = _recipients(mail, mailer)
        if not store.claim(mail.id, now, mailer.claim_seconds(len(to))):
            held.add(mail.group)  # another run is delivering it, or it is not due yet
            continue
        retry_at = now + backoff(config, mail.attempts + 1)
        try:
            refused = mailer.send_to(message, to)
        except MailRefusedError as exc:
            store.mark_dead(mail.id, str(exc), now)
            result.dead.append(mail.subject)
            result.errors.append(f"mail {mail.subject!r} refused for good, kept as dead: {exc}")
            log.error("mail %r refused for good, kept as dead: %s", mail.subject, exc)
            continue
        except TransientMailError as exc:
            if _expired(config, mail, now):
                _give_up(store, mail, to, gave_up(config, str(exc)), now, result)
            else:
                store.mark_failed(mail.id, str(exc), retry_at)
                result.errors.append(f"mail {mail.subject!r} queued for retry: {exc}")
                log.warning("mail %r stays queued: %s", mail.subject, exc)
                held.add(mail.group)
            if exc.code is None:
                # the server is unreachable: the others wait for the next run, or give up
                _give_up_waiting(store, mailer, mails[index + 1 :], held, str(exc), now, result)
                break
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
        expired = _expired(config, mail, now)
        dead = {
            a: text if code >= 500 else gave_up(config, text)
            for a, (code, text) in refused.items()
            if code >= 500 or expired
        }
        pending = [a for a in to if a in refused and a not in dead]
        for address, (code, text) in refused.items():
            if address not in dead:
                outcome = f"deferred, retried later: {text}"
            elif code >= 500:
                outcome = f"refused for good: {text}"
            else:
                outcome = dead[address]  # gave up after ...
            result.errors.append(f"mail {mail.subject!r} to {address} {outcome}")
            level = logging.ERROR if address in dead else logging.WARNING
            log.log(level, "mail %r to %s %s", mail.subject, address, outcome)
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
