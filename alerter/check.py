"""One evaluation of a rule group: query Prometheus, update the store, queue and send mail."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from alerter import template_limits
from alerter.between import (
    BetweenNotice,
    Coverage,
    Episode,
    evaluate_span,
    notice_for,
    span_window,
)
from alerter.check_result import CheckResult, status_of
from alerter.delivery import deliver
from alerter.errors import AlerterError
from alerter.evaluate import SeriesKey, Window, evaluate_blind, evaluate_rule, window_for
from alerter.flapping import MailPlan, plan_mail
from alerter.history import condition_starts, held_from
from alerter.model import BLIND_ALERT, FIRING, RESOLVED, AlertState, BlindReason
from alerter.notify import FlapNotice, MailRenderer, Notification
from alerter.receivers import apprise_body, webhook_body
from alerter.routing import (
    LogEntry,
    Route,
    Routed,
    apply_inhibition,
    build_tree,
    plan_routes,
    source,
    source_of,
    upstream_timing,
)
from alerter.rules import Rule, RuleSet, load_rules
from alerter.silences import silenced_by
from alerter.store import AlertStore
from alerter.trust import (
    COLLECTOR_SUCCESS,
    UP,
    ScrapeFacts,
    collectors_of,
    scrape_reasons,
    target_of,
)
from stackwatch.catalog import groups_of
from stackwatch.config import Config
from stackwatch.format import format_value, labels_text, moment_text
from stackwatch.mail import Mailer
from stackwatch.prometheus import (
    PrometheusClient,
    PrometheusError,
    QueryTimeoutError,
    Series,
    TransientPrometheusError,
)

log = logging.getLogger(__name__)


def group_names(config: Config) -> list[str]:
    """The names of the groups defined in the rule files (in file order), and of those that a
    file which cannot be read seems to define, so that its problem is shown too."""
    ruleset = load_rules(config.rules.paths)
    named = [g.name for g in ruleset.groups] + [n for p in ruleset.problems for n in p.groups]
    return list(dict.fromkeys(named))


def flow_groups(config: Config, flow: str) -> list[str]:
    """The groups the check flow ``flow`` evaluates: the group of its own name (reported when
    no file defines it), then every defined group named after no flow that is its to evaluate
    (``rules.flows``; ``threshold-alert-check`` by default)."""
    return groups_of(flow, [flow, *group_names(config)], config.rules.flows)


@dataclass(frozen=True)
class _RuleQuery:
    rule: Rule
    window: Window
    series: list[Series] | None
    error: str | None
    incomplete: str | None = None  # a partial answer: blind for this rule, never resolution
    starts: Mapping[SeriesKey, float] = field(default_factory=dict)  # see condition_starts
    coverage: Coverage | None = None  # when the span's data was seen (``alerter.between``)


#: rules asked in one query: one round trip instead of one each (see ``_query_batch``)
BATCH = 25
#: the label that tells, in a batch's answer, which rule a series is of
RULE_LABEL = "__stackwatch_rule"


def _ask(
    client: PrometheusClient, expr: str, window: Window, now: float
) -> tuple[list[Series], str | None]:
    if window.instant:
        samples = client.query(expr, at=now)
        return [Series(s.labels, [(s.timestamp, s.value)]) for s in samples], samples.incomplete
    matrix = client.query_range(expr, window.start, window.end, window.step)
    return list(matrix), matrix.incomplete


def _query_batch(
    client: PrometheusClient, rules: Sequence[Rule], window: Window, now: float
) -> list[list[Series]] | None:
    """The series of each of ``rules`` (all over ``window``) from one query: each rule's
    expression marked with its index by ``label_replace``, joined with ``or``. None when the
    answer cannot be split by rule (one rule's error, a partial answer): each is then asked
    alone, so its error or partial answer is its own."""
    expr = " or ".join(
        f'label_replace((\n{rule.expr}\n), "{RULE_LABEL}", "{i}", "", "")'
        for i, rule in enumerate(rules)
    )
    try:
        series, incomplete = _ask(client, expr, window, now)
    except QueryTimeoutError:
        return None  # the rules together take too long: each may not
    except TransientPrometheusError:
        raise
    except PrometheusError:
        return None
    if incomplete is not None:
        return None
    parts: list[list[Series]] = [[] for _ in rules]
    for item in series:
        labels = dict(item.labels)
        index = labels.pop(RULE_LABEL, "")
        if not index.isdecimal() or int(index) >= len(rules):
            return None
        parts[int(index)].append(Series(labels, item.values))
    return parts


def _query_rule(
    client: PrometheusClient,
    rule: Rule,
    now: float,
    prior: Sequence[AlertState] = (),
    since: float | None = None,
    window: Window | None = None,
    answered: list[Series] | None = None,
) -> _RuleQuery:
    """The rule's query (unless ``answered`` by a batch) and, for new alerts, the look back."""
    window = window if window is not None else window_for(rule, now)
    if answered is not None:
        series, incomplete = answered, None
    else:
        try:
            series, incomplete = _ask(client, rule.expr, window, now)
        except TransientPrometheusError:
            raise
        except PrometheusError as exc:  # the server's own message: a bad or unsuitable query
            return _RuleQuery(rule, window, None, str(exc))
    starts = (
        {} if since is None else condition_starts(client, rule, series, window, prior, now, since)
    )
    return _RuleQuery(rule, window, series, None, incomplete, starts)


def query_rules(
    client: PrometheusClient,
    rules: Sequence[Rule],
    now: float,
    concurrency: int,
    prior: Sequence[AlertState] = (),
    since: float | None = None,
    windows: Sequence[Window] | None = None,
) -> list[_RuleQuery]:
    """Every rule's query, run concurrently over the client's one session; with ``since`` (when
    the server began to hold data), new alerts' conditions are looked back for too. With
    ``windows`` (one per rule: spans since the previous evaluation), each span's ``up`` is read
    too, to tell where its data was seen.

    Raises TransientPrometheusError when Prometheus is unreachable.
    """
    if not rules:
        return []
    chosen = list(windows) if windows is not None else [window_for(r, now) for r in rules]
    spans = {w for w in chosen if not w.instant} if windows is not None else set()
    by_window: dict[Window, list[int]] = {}
    for index, window in enumerate(chosen):
        by_window.setdefault(window, []).append(index)
    batches = [
        (window, indexes[i : i + BATCH])
        for window, indexes in by_window.items()
        for i in range(0, len(indexes), BATCH)
    ]
    answered: list[list[Series] | None] = [None] * len(rules)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(rules)))) as pool:
        coverage = dict(zip(spans, pool.map(lambda w: _coverage(client, w), spans), strict=True))
        found = pool.map(
            lambda b: (
                _query_batch(client, [rules[i] for i in b[1]], b[0], now) if len(b[1]) > 1 else None
            ),
            batches,
        )
        for (_, indexes), parts in zip(batches, found, strict=True):
            if parts is not None:
                for index, part in zip(indexes, parts, strict=True):
                    answered[index] = part
        queries = list(
            pool.map(
                lambda i: _query_rule(client, rules[i], now, prior, since, chosen[i], answered[i]),
                range(len(rules)),
            )
        )
    return [replace(q, coverage=coverage.get(q.window)) if coverage else q for q in queries]


def _coverage(client: PrometheusClient, window: Window) -> Coverage | None:
    """Where each target was up over ``window``; None (all seen) when that cannot be read."""
    try:
        matrix = client.query_range(UP, window.start, window.end, window.step)
    except TransientPrometheusError:
        raise
    except PrometheusError as exc:
        log.warning("cannot read up over the span since the last evaluation: %s", exc)
        return None
    return None if matrix.incomplete is not None else Coverage.from_up(matrix)


def _scrape_facts(client: PrometheusClient, job: str, now: float) -> ScrapeFacts:
    """Every target's ``up`` and every collector's success in its latest scrape."""
    up = client.query(UP, at=now)
    success = client.query(COLLECTOR_SUCCESS, at=now)
    targets: dict[tuple[str, str], bool] = {}
    for s in up:
        if (target := target_of(s.labels)) is not None:
            targets[target] = s.value == 1
    collectors: dict[tuple[str, str], dict[str, bool]] = {}
    for s in success:
        target, name = target_of(s.labels), s.labels.get("collector")
        if target is not None and name:
            collectors.setdefault(target, {})[name] = s.value == 1
    incomplete = up.incomplete or success.incomplete
    return ScrapeFacts(job, targets, collectors, incomplete)


def _query_reasons(
    group: str, queries: Sequence[_RuleQuery], problems: Sequence[object]
) -> tuple[list[BlindReason], bool]:
    """The blind reasons the queries and rule files give, and whether they blind every rule of
    the group (a failed query or broken files do; a partial answer blinds its own rule only)."""
    reasons: list[BlindReason] = []
    for query in queries:
        if query.incomplete is not None:
            reasons.append(
                BlindReason(
                    {"cause": "partial_response", "rule": query.rule.alert},
                    f"Prometheus gave a partial answer for rule {query.rule.alert} of {group}",
                    query.incomplete[:1000],
                )
            )
        if query.error is not None:
            reasons.append(
                BlindReason(
                    {"cause": "query_failed", "rule": query.rule.alert},
                    f"Rule {query.rule.alert} of {group} cannot be evaluated",
                    query.error,
                )
            )
    if problems:
        reasons.append(
            BlindReason(
                {"cause": "invalid_rules"},
                f"Rule files of {group} have problems: some rules are not evaluated",
                "; ".join(str(p) for p in problems)[:1000],
            )
        )
    group_blind = bool(problems) or any(q.error is not None for q in queries)
    return reasons, group_blind


def _apply_silences(
    states: list[AlertState], store: AlertStore, moment: datetime
) -> list[AlertState]:
    silences = store.silences(now=moment)
    return [
        replace(s, silenced_by=silenced_by(silences, s.labels, moment))
        if s.state != RESOLVED
        else s
        for s in states
    ]


def _inhibit(
    config: Config, group: str, states: list[AlertState], store: AlertStore
) -> list[AlertState]:
    """Mark the alerts that ``notify.inhibit`` holds back now; sources may be of any group."""
    rules = config.notify.inhibit
    if not rules:
        return states
    sources = [source_of(s) for s in states if s.state == FIRING]
    sources += [
        source(r.fingerprint, r.alertname, r.group, r.labels)
        for r in store.firing()
        if r.group != group
    ]
    return apply_inhibition(states, sources, rules)


@dataclass(frozen=True)
class _Outgoing:
    """One message to queue: for mail by smtp ``receiver`` is None."""

    notification: Notification | FlapNotice | BetweenNotice
    message: bytes
    receiver: str | None
    shown: str  # the subject, with the receiver when routed


def _routed_messages(
    config: Config,
    tree: Route,
    mails: list[Notification | FlapNotice | BetweenNotice],
    store: AlertStore,
    renderer: MailRenderer,
    mailer: Mailer,
    ts: float,
) -> tuple[list[_Outgoing], dict[tuple[str, str], LogEntry]]:
    log_entries = {key: LogEntry(*entry) for key, entry in store.notify_log().items()}
    routed, updates = plan_routes(tree, mails, log_entries, ts)
    return [_compose_routed(config, item, renderer, mailer, ts) for item in routed], updates


def _compose_routed(
    config: Config, item: Routed, renderer: MailRenderer, mailer: Mailer, ts: float
) -> _Outgoing:
    receiver = config.notify.receiver_config(item.receiver)
    if receiver is None:  # the config check makes this impossible
        raise AlerterError(f"no receiver named {item.receiver!r}")
    shown = f"{item.notification.subject} (to {item.receiver})"
    if receiver.webhook is not None:
        body = webhook_body(item, config, receiver.webhook, ts)
    elif receiver.apprise is not None:
        body = apprise_body(item, renderer, ts)
    else:
        to = receiver.email.to if receiver.email is not None else []
        sender = Mailer(config.smtp.model_copy(update={"to": to})) if to else mailer
        body = renderer.compose(item.notification, sender, ts).as_bytes()
    return _Outgoing(item.notification, body, item.receiver, shown)


def _owns(rule: Rule, state: AlertState) -> bool:
    """Whether an alert instance came from ``rule`` (rules may share a name, not labels)."""
    return state.alertname == rule.alert and all(
        state.labels.get(name) == value for name, value in rule.labels.items() if "{{" not in value
    )


def _silence_episodes(
    episodes: Sequence[Episode], store: AlertStore, moment: datetime
) -> list[Episode]:
    """Episodes matched by a silence active when they fired, or now, are not mailed."""
    if not episodes:
        return []
    silences = store.silences(include_expired=True)
    out = []
    for e in episodes:
        at = datetime.fromtimestamp(e.fired_at, tz=UTC)
        by = silenced_by(silences, e.labels, at) or silenced_by(silences, e.labels, moment)
        out.append(replace(e, silenced_by=by))
    return out


def run_check(
    config: Config,
    group: str,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    notify: bool = True,
    rules: RuleSet | None = None,
) -> CheckResult:
    """Evaluate ``group`` once: alerts are updated in the store and mail is queued, then sent.

    Raises TransientPrometheusError when Prometheus is unreachable; queued mail is still
    delivered first. With ``dry_run`` nothing is written or sent; with ``notify`` off the
    alert states are tracked but the group mails nothing (a log-only check).
    """
    moment = now or datetime.now(tz=UTC)
    ts = moment.timestamp()
    ruleset = rules if rules is not None else load_rules(config.rules.paths)
    problems = ruleset.problems_for(group)
    errors = [str(p) for p in problems]
    rule_group = ruleset.group(group)
    if rule_group is None and not errors:
        known = ", ".join(g.name for g in ruleset.groups) or "none"
        raise AlerterError(
            f"no rule group named {group!r} in {', '.join(config.rules.paths)} (groups: {known})"
        )
    group_rules = list(rule_group.rules) if rule_group is not None else []
    mailer = Mailer(config.smtp)
    # the default (no notify routes): one mail per group to smtp.to, as it has always been
    tree = None if config.notify.is_default else build_tree(config)
    repeat_interval, send_resolved = (
        upstream_timing(tree)
        if tree is not None
        else (config.rules.repeat_interval, config.rules.send_resolved)
    )

    with AlertStore(config.state.path) as store:
        try:
            with PrometheusClient(config.prometheus) as client:
                facts = _scrape_facts(client, config.prometheus.job, ts)
                since = held_from(client, ts)
                seen = store.group_states(group)  # read before the lock: chooses look backs
                between = config.rules.between_runs
                previous = store.covered_to(group) if between.enabled else None
                windows = [
                    span_window(
                        r,
                        ts,
                        previous,
                        max_span=between.max_span,
                        resolution=between.resolution,
                    )
                    for r in group_rules
                ]
                queries = query_rules(
                    client,
                    group_rules,
                    ts,
                    config.prometheus.max_concurrency,
                    seen,
                    since,
                    windows if previous is not None else None,
                )
        except PrometheusError as exc:
            if not dry_run:
                store.record_evaluation(group, ts, success=False, error=str(exc))
                deliver(store, mailer, time.time(), config.notify)
            raise
        reasons, group_blind = _query_reasons(group, queries, problems)
        errors.extend(
            f"{q.rule.file}:{q.rule.line}: {q.rule.alert}: {q.error}"
            for q in queries
            if q.error is not None
        )
        needed = frozenset(c for r in group_rules for c in collectors_of(r.expr))
        renderer = MailRenderer(config, units={r.alert: r.value_unit for r in group_rules})
        # the database stays locked while annotations render: their time together is bounded
        with store.transaction(), template_limits.evaluation_budget():
            prior = store.group_states(group)
            reasons = scrape_reasons(facts, group, needed, prior) + reasons
            blind = bool(reasons)
            evaluated = {r.alert for r in group_rules}
            current: list[AlertState] = []
            episodes: list[Episode] = []
            for query in queries:
                mine = [p for p in prior if _owns(query.rule, p)]
                if query.series is None:
                    current.extend(mine)
                else:
                    rule_blind = group_blind or query.incomplete is not None
                    spanned = previous is not None and not query.window.instant
                    span = evaluate_span(
                        query.rule,
                        query.series,
                        mine,
                        query.window,
                        held_from=since,
                        coverage=query.coverage,
                        blind=rule_blind or not spanned,
                        facts=facts,
                        previous=previous,
                    )
                    episodes.extend(span.episodes)
                    current.extend(
                        evaluate_rule(
                            query.rule,
                            query.series,
                            [p for p in mine if p.fingerprint not in span.restarted],
                            ts,
                            query.window,
                            blind=rule_blind,
                            facts=facts,
                            held_from=since,
                            starts=query.starts,
                            ended=span.ended,
                            fired_when_held=spanned,
                        )
                    )
            current.extend(
                evaluate_blind(group, reasons, [p for p in prior if p.alertname == BLIND_ALERT], ts)
            )
            for old in prior:
                if old.alertname in evaluated or old.alertname == BLIND_ALERT:
                    continue
                # the rule is gone from the files: keep it while files are broken, else end it
                if old.state == RESOLVED:
                    continue
                if group_blind:
                    current.append(old)
                else:
                    current.append(replace(old, state=RESOLVED, resolved_at=ts))
            current = _apply_silences(current, store, moment)
            current = _inhibit(config, group, current, store)
            plan: MailPlan | None = None
            flapping = config.rules.flapping
            if notify:
                plan = plan_mail(
                    group,
                    prior,
                    current,
                    store.flap_history(group, ts - flapping.window),
                    ts,
                    flapping=flapping,
                    repeat_interval=repeat_interval,
                    send_resolved=send_resolved,
                    blind=blind,
                )
                current = plan.states
            episodes = _silence_episodes(episodes, store, moment)
            if not dry_run:
                episodes = store.save_episodes(episodes)  # found before: mailed before
            mails: list[Notification | FlapNotice | BetweenNotice] = (
                list(plan.mails) if plan is not None else []
            )
            notice = notice_for(
                group,
                episodes,
                previous if previous is not None else ts,
                ts,
                held=plan.flapping if plan is not None else (),
            )
            if notice is not None and plan is not None:
                mails.append(notice)
            log_updates: dict[tuple[str, str], LogEntry] = {}
            if tree is None:
                outgoing = [
                    _Outgoing(n, renderer.compose(n, mailer, ts).as_bytes(), None, n.subject)
                    for n in mails
                ]
            else:
                outgoing, log_updates = _routed_messages(
                    config, tree, mails, store, renderer, mailer, ts
                )
            subjects = [o.shown for o in outgoing]
            if not dry_run:
                store.save_group(group, current, ts)
                # success: every rule file read and every rule's query answered
                store.record_evaluation(
                    group,
                    ts,
                    success=not errors,
                    error="; ".join(errors) or None,
                    # a blind group saw nothing: the next evaluation looks at this time again
                    covered_to=None if group_blind else ts,
                )
                if plan is not None:
                    store.save_flapping(group, plan.update, ts, flapping.window)
                store.save_notify_log(
                    {key: (entry.firing, entry.sent_at) for key, entry in log_updates.items()}
                )
                for item in outgoing:
                    store.enqueue(
                        group,
                        item.notification.subject,
                        item.message,
                        ts,
                        alerts=item.notification.fingerprints,
                        receiver=item.receiver,
                    )
        sent: list[str] = []
        if not dry_run:
            delivery = deliver(store, mailer, time.time(), config.notify)
            sent = delivery.sent
            errors.extend(delivery.errors)
        queued = store.queued_count()
        dead = store.dead_count()

    # resolved now, or (its condition seen ending in the span) since the previous evaluation
    ended = {p.fingerprint for p in prior if p.state != RESOLVED}
    shown = sorted(
        (
            s
            for s in current
            if not (
                s.state == RESOLVED and (s.resolved_at or 0) < ts and s.fingerprint not in ended
            )
        ),
        key=lambda s: (s.alertname, sorted(s.labels.items())),
    )
    return CheckResult(
        group=group,
        alerts=[
            status_of(s, plan.flapping if plan is not None else frozenset(), renderer.units)
            for s in shown
        ],
        sent=sent,
        queued=queued,
        blind=blind,
        errors=errors,
        dead=dead,
        would_send=subjects if dry_run else [],
        dry_run=dry_run,
        evaluated_at=moment,
        between=[_episode_line(e) for e in episodes],
    )


def _episode_line(e: Episode) -> str:
    peak = f", peak {format_value(e.peak)}" if e.peak is not None else ""
    silenced = " (silenced)" if e.silenced_by is not None else ""
    return (
        f"{e.alertname}{silenced} {{{labels_text(e.labels)}}}: fired {moment_text(e.fired_at)}, "
        f"resolved {moment_text(e.resolved_at)}{peak}"
    )
