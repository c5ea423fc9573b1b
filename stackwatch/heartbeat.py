"""The heartbeat out: one GET to a dead man's switch (healthchecks.io, Uptime Kuma push) after
each check run, the success URL or the fail URL, within a short deadline and never retried, so
an unreachable or hanging service never delays or fails a check."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit, urlunsplit

import requests

from stackwatch.config.base import Secret
from stackwatch.config.notify import NotifyConfig
from stackwatch.deadline_http import DeadlineAdapter, DeadlineExceededError, request_within
from stackwatch.errors import StackwatchError

log = logging.getLogger(__name__)


def fail_url(url: str) -> str:
    """healthchecks.io's convention: ``/fail`` appended to the ping URL's path."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def _text(value: str | Secret) -> str:
    return value.get() if isinstance(value, Secret) else value


def heartbeat_target(config: NotifyConfig, ok: bool) -> str | None:
    """The URL to ping after a run that succeeded (``ok``) or failed; None when not configured."""
    if config.heartbeat_url is None:
        return None
    if ok:
        return _text(config.heartbeat_url)
    if config.heartbeat_fail_url is not None:
        return _text(config.heartbeat_fail_url)
    return fail_url(_text(config.heartbeat_url))


def _shown(url: str) -> str:
    # the path holds the check's token: only the host is logged
    return urlsplit(url).netloc


def ping(config: NotifyConfig, ok: bool) -> bool:
    """Ping once within ``heartbeat_timeout``; True when the service answered 2xx. Every
    failure is logged and swallowed: the next run pings again, nothing retries."""
    try:
        url = heartbeat_target(config, ok)
    except StackwatchError as exc:
        log.warning("heartbeat not sent: %s", exc)
        return False
    if url is None:
        return False
    session = requests.Session()
    session.mount("http://", DeadlineAdapter())
    session.mount("https://", DeadlineAdapter())
    try:
        response = request_within(
            session, "GET", url, {}, time.monotonic() + config.heartbeat_timeout
        )
    except DeadlineExceededError:
        log.warning("heartbeat to %s: no answer within %ss", _shown(url), config.heartbeat_timeout)
        return False
    except requests.RequestException as exc:
        log.warning("heartbeat to %s failed: %s", _shown(url), type(exc).__name__)
        return False
    finally:
        session.close()
    if not response.ok:
        log.warning("heartbeat to %s answered %s", _shown(url), response.status_code)
    return response.ok
