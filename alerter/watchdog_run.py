"""``stackwatch watchdog``: every ``watchdog.interval`` it reads the groups' last evaluations
from the state database and probes the Prefect API, then queues and sends the mail the decision
calls for through the outbox. It never runs a check itself and needs no Prefect."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from alerter.delivery import deliver
from alerter.rules import load_rules
from alerter.store import AlertStore
from alerter.watchdog import Decision, Watched, decide
from alerter.watchdog_health import Liveness
from alerter.watchdog_mail import compose
from stackwatch.catalog import FLOWS, groups_of
from stackwatch.config import Config
from stackwatch.errors import StackwatchError
from stackwatch.links import api_url
from stackwatch.mail import Mailer

log = logging.getLogger(__name__)

#: the outbox group of the watchdog's mail (its mails arrive in order)
MAIL_GROUP = "watchdog"

Probe = Callable[[Config], bool]


def probe_prefect(config: Config) -> bool:
    """Whether ``<prefect api>/health`` answers 200 within ``prefect.timeout`` (a plain GET:
    no Prefect client). No API configured: nothing to probe, counted reachable."""
    api = api_url(config)
    if api is None:
        return True
    headers = {}
    if config.prefect.api_key is not None:
        headers["Authorization"] = f"Bearer {config.prefect.api_key.get()}"
    timeout = min(config.prefect.timeout, config.watchdog.interval)
    try:
        response = requests.get(f"{api}/health", headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        log.info("Prefect API %s unreachable: %s", api, exc)
        return False
    return response.status_code == 200


def watched_groups(config: Config, store: AlertStore) -> list[Watched]:
    """Each check flow's groups that the rule files define (its own group whatever the files
    hold when they cannot be read), with the flow's interval and their last evaluations."""
    ruleset = load_rules(config.rules.paths)
    defined = [g.name for g in ruleset.groups] + [n for p in ruleset.problems for n in p.groups]
    last = {e.group: e.evaluated_at for e in store.evaluations()}
    intervals = config.watchdog.intervals
    watched: list[Watched] = []
    for spec in FLOWS:
        if spec.kind != "check":
            continue
        every = intervals.get(spec.name, spec.interval)
        for group in groups_of(spec.name, [spec.name, *defined], config.rules.flows):
            if defined and group not in defined:
                continue
            replaced = group in intervals or spec.name in intervals
            watched.append(
                Watched(
                    group,
                    intervals.get(group, every),
                    last.get(group),
                    flow=spec.name,
                    cron="" if replaced else spec.cron,
                )
            )
    return watched


@dataclass(frozen=True)
class Look:
    """One look's decision, the groups it watched and the mail sent (subjects)."""

    decision: Decision
    watched: list[Watched]
    sent: list[str]


def look(config: Config, *, now: float | None = None, probe: Probe = probe_prefect) -> Look:
    """Look once: probe, decide and queue in one transaction (a restart never mails twice),
    then send what the outbox holds."""
    reachable = probe(config)  # before the transaction: no network under the database's lock
    moment = time.time() if now is None else now
    mailer = Mailer(config.smtp)
    watch = config.watchdog
    with AlertStore(config.state.path) as store:
        with store.transaction():
            watched = watched_groups(config, store)
            decision = decide(
                watched,
                reachable,
                store.watchdog_state(),
                moment,
                stale_after=watch.stale_after,
                api_after=watch.prefect_unreachable_after,
            )
            store.save_watchdog(decision.state)
            if decision.mail is not None:
                mail = compose(decision, watched, moment, config)
                message = mailer.compose(mail.subject, mail.text, mail.html)
                store.enqueue(MAIL_GROUP, mail.subject, message.as_bytes(), moment)
                log.warning("%s", mail.subject)
        delivery = deliver(store, mailer, time.time(), config.notify)
    for error in delivery.errors:
        log.error("%s", error)
    return Look(decision, watched, delivery.sent)


def run(
    config: Config,
    stop: threading.Event,
    *,
    probe: Probe = probe_prefect,
    liveness: Liveness | None = None,
) -> None:
    """Look every ``watchdog.interval`` until ``stop`` is set; a failed look is logged and the
    next one tries again."""
    while not stop.is_set():
        try:
            look(config, probe=probe)
            if liveness is not None:
                liveness.looked()
        except (StackwatchError, sqlite3.Error) as exc:
            log.error("watchdog: %s", exc)
        stop.wait(config.watchdog.interval)
