"""Routing, grouping and inhibition (Alertmanager's model), pure: given alerts, the routing tree
and the notification log, which receiver is told what.

The tree is matched as Alertmanager matches it: a route whose matchers hold descends into its
children in order, stops at the first that matches unless that one says ``continue``, and is
itself the match when no child matches. Each match groups the alert by its ``group_by``
labels; the notification log, keyed by receiver and group key, holds the alerts last sent
firing and when, so "should this group be told?" is a set comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from alerter.between import BetweenNotice
from alerter.model import BLIND_ALERT, FIRING, AlertState
from alerter.notify import FlapNotice, Notification
from stackwatch.config import Config, RouteConfig
from stackwatch.config.notify import GROUP_LABEL, InhibitRule
from stackwatch.matchers import Matcher, matches_all, parse_matcher

#: ``group_by: [...]``: every label, as in Alertmanager
ALL_LABELS = "..."


def route_labels(group: str, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels routes and inhibition rules match: the alert's, plus ``group`` (its rule
    group) unless it has a label of that name."""
    return {GROUP_LABEL: group, **labels}


@dataclass(frozen=True)
class Route:
    """A node of the routing tree with every inherited value filled in."""

    id: str  # its position: "0", "0.2", ... ("" for the root)
    key: str  # Alertmanager's route key: {} for the root, {}/{severity="critical"} below
    matchers: tuple[Matcher, ...]
    receiver: str
    group_by: tuple[str, ...]
    repeat_interval: float
    send_resolved: bool
    continue_: bool = False
    routes: tuple[Route, ...] = ()

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` goes to (Alertmanager's ``Route.Match``)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self]

    def walk(self) -> list[Route]:
        return [self, *(r for child in self.routes for r in child.walk())]


def _matchers_key(matchers: Sequence[Matcher]) -> str:
    return "{" + ",".join(m.quoted() for m in matchers) + "}"


def _child(route: RouteConfig, parent: Route, index: int) -> Route:
    matchers = route.parsed_matchers()
    node = Route(
        id=f"{parent.id}.{index}" if parent.id else str(index),
        key=f"{parent.key}/{_matchers_key(matchers)}",
        matchers=matchers,
        receiver=route.receiver if route.receiver is not None else parent.receiver,
        group_by=tuple(route.group_by) if route.group_by is not None else parent.group_by,
        repeat_interval=(
            route.repeat_interval if route.repeat_interval is not None else parent.repeat_interval
        ),
        send_resolved=(
            route.send_resolved if route.send_resolved is not None else parent.send_resolved
        ),
        continue_=route.continue_,
    )
    return replace(node, routes=tuple(_child(r, node, i) for i, r in enumerate(route.routes)))


def build_tree(config: Config) -> Route:
    """The routing tree of ``notify``; its root takes the timing of ``rules`` when unset."""
    notify = config.notify
    root = Route(
        id="",
        key="{}",
        matchers=(),
        receiver=notify.receiver,
        group_by=tuple(notify.group_by),
        repeat_interval=(
            notify.repeat_interval
            if notify.repeat_interval is not None
            else config.rules.repeat_interval
        ),
        send_resolved=(
            notify.send_resolved if notify.send_resolved is not None else config.rules.send_resolved
        ),
    )
    return replace(root, routes=tuple(_child(r, root, i) for i, r in enumerate(notify.routes)))


def group_labels(route: Route, labels: Mapping[str, str]) -> dict[str, str]:
    """The values of the route's ``group_by`` labels (absent ones left out)."""
    if ALL_LABELS in route.group_by:
        return dict(sorted(labels.items()))
    return {name: labels[name] for name in sorted(route.group_by) if name in labels}


def group_key(route: Route, groups: Mapping[str, str]) -> str:
    """Alertmanager's ``groupKey``: the route's key and the group's labels."""
    return f"{route.key}:{_matchers_key([Matcher(k, '=', v) for k, v in groups.items()])}"


# --- inhibition -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A firing alert that may inhibit others: its fingerprint, a name to show, its labels."""

    fingerprint: str
    name: str
    labels: Mapping[str, str]


def source(fingerprint: str, alertname: str, group: str, labels: Mapping[str, str]) -> Source:
    """A firing alert as a source, named ``HostDown{instance=web1}``."""
    shown = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    return Source(fingerprint, f"{alertname}{{{shown}}}", route_labels(group, labels))


def source_of(alert: AlertState) -> Source:
    return source(alert.fingerprint, alert.alertname, alert.group, alert.labels)


@dataclass(frozen=True)
class _Rule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


def _rules(rules: Sequence[InhibitRule]) -> list[_Rule]:
    return [
        _Rule(
            tuple(parse_matcher(m) for m in r.source_matchers),
            tuple(parse_matcher(m) for m in r.target_matchers),
            tuple(r.equal),
        )
        for r in rules
    ]


def inhibitor(
    alert: AlertState, sources: Sequence[Source], rules: Sequence[InhibitRule]
) -> str | None:
    """The source alert that inhibits ``alert`` now, if any (Alertmanager's ``Mutes``): an
    alert matching a rule's target matchers while a firing alert matching its source matchers
    has the same ``equal`` labels. An alert matching both sides cannot be inhibited by another
    that does too, nor by itself; ``MonitoringBlind`` is never inhibited."""
    if alert.alertname == BLIND_ALERT or alert.state != FIRING:
        return None
    labels = route_labels(alert.group, alert.labels)
    for rule in _rules(rules):
        if not matches_all(rule.target, labels):
            continue
        both = matches_all(rule.source, labels)
        for source in sources:
            if source.fingerprint == alert.fingerprint:
                continue
            if not matches_all(rule.source, source.labels):
                continue
            if both and matches_all(rule.target, source.labels):
                continue
            if all(source.labels.get(n, "") == labels.get(n, "") for n in rule.equal):
                return source.name
    return None


def apply_inhibition(
    states: Sequence[AlertState], sources: Sequence[Source], rules: Sequence[InhibitRule]
) -> list[AlertState]:
    """``states`` with ``inhibited_by`` set on each firing alert a source inhibits now."""
    if not rules:
        return list(states)
    return [replace(s, inhibited_by=inhibitor(s, sources, rules)) for s in states]


# --- routed notifications ---------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """What a receiver was last told about a group: the alerts firing then, and when."""

    firing: frozenset[str]
    sent_at: float


LogKey = tuple[str, str]  # (receiver, route id + group key)


@dataclass(frozen=True)
class Routed:
    """One notification for one receiver: the alerts of one group of one route."""

    receiver: str
    route: Route
    group_key: str
    group_labels: dict[str, str]
    notification: Notification | FlapNotice | BetweenNotice

    @property
    def log_key(self) -> LogKey:
        return (self.receiver, f"{self.route.id}|{self.group_key}")


@dataclass
class _Piece:
    route: Route
    groups: dict[str, str]
    firing: list[AlertState] = field(default_factory=list)
    resolved: list[AlertState] = field(default_factory=list)
    new: list[AlertState] = field(default_factory=list)
    flapping: list[AlertState] = field(default_factory=list)


def _split(tree: Route, alerts: Sequence[tuple[str, AlertState]]) -> dict[tuple[str, str], _Piece]:
    pieces: dict[tuple[str, str], _Piece] = {}
    for kind, alert in alerts:
        labels = route_labels(alert.group, alert.labels)
        for route in tree.match(labels):
            groups = group_labels(route, labels)
            key = group_key(route, groups)
            piece = pieces.setdefault((route.id, key), _Piece(route, groups))
            getattr(piece, kind).append(alert)
    return pieces


def _needs_update(piece: _Piece, entry: LogEntry | None, now: float) -> bool:
    """Alertmanager's dedup: anything new firing, newly resolved (when wanted), or the
    repeat interval gone by since the receiver was last told."""
    firing = {a.fingerprint for a in piece.firing}
    if piece.new or entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        return bool(entry.firing)  # all resolved: clear the log, sent only if send_resolved
    if piece.route.send_resolved and any(a.fingerprint in entry.firing for a in piece.resolved):
        return True
    return now - entry.sent_at >= piece.route.repeat_interval


def plan_routes(
    tree: Route,
    mails: Sequence[Notification | FlapNotice | BetweenNotice],
    log: Mapping[LogKey, LogEntry],
    now: float,
) -> tuple[list[Routed], dict[LogKey, LogEntry]]:
    """What each receiver is sent for a group's mails, and the log entries to write.

    A ``[FLAPPING]`` notice, and one of alerts that fired and resolved between two checks, goes
    to every receiver of its alerts at once; a notification is split by route and group, and
    each part sent when the receiver's log says it is due.
    """
    routed: list[Routed] = []
    updates: dict[LogKey, LogEntry] = {}
    for mail in mails:
        if isinstance(mail, BetweenNotice):  # over already: no log to keep, sent once
            routed.extend(_route_between(tree, mail))
            continue
        if isinstance(mail, FlapNotice):
            changes = {a.fingerprint: n for a, n in mail.alerts}
            flap_pieces = _split(tree, [("flapping", a) for a, _ in mail.alerts])
            for piece in flap_pieces.values():
                alerts = tuple((a, changes[a.fingerprint]) for a in piece.flapping)
                notice = replace(mail, alerts=alerts)
                key = group_key(piece.route, piece.groups)
                routed.append(Routed(piece.route.receiver, piece.route, key, piece.groups, notice))
            continue
        new = {a.fingerprint for a in mail.new}
        tagged = [("firing", a) for a in mail.firing] + [("resolved", a) for a in mail.resolved]
        for piece in _split(tree, tagged).values():
            piece.new = [a for a in piece.firing if a.fingerprint in new]
            key = group_key(piece.route, piece.groups)
            item = Routed(piece.route.receiver, piece.route, key, piece.groups, mail)
            entry = log.get(item.log_key)
            if not _needs_update(piece, entry, now):
                continue
            updates[item.log_key] = LogEntry(frozenset(a.fingerprint for a in piece.firing), now)
            resolved = tuple(piece.resolved) if piece.route.send_resolved else ()
            if not piece.firing and not resolved:
                continue  # the log is cleared; this receiver does not want resolved alerts
            part = Notification(mail.group, tuple(piece.firing), resolved, tuple(piece.new))
            routed.append(replace(item, notification=part))
    return routed, updates


def _route_between(tree: Route, notice: BetweenNotice) -> list[Routed]:
    """The notice split by the route and group of each episode's labels."""
    pieces: dict[tuple[str, str], tuple[Route, dict[str, str], list[int]]] = {}
    for index, episode in enumerate(notice.episodes):
        labels = route_labels(episode.group, episode.labels)
        for route in tree.match(labels):
            groups = group_labels(route, labels)
            key = group_key(route, groups)
            pieces.setdefault((route.id, key), (route, groups, []))[2].append(index)
    return [
        Routed(
            route.receiver,
            route,
            key,
            groups,
            replace(notice, episodes=tuple(notice.episodes[i] for i in indices)),
        )
        for (_, key), (route, groups, indices) in pieces.items()
    ]


def upstream_timing(tree: Route) -> tuple[float, bool]:
    """The repeat interval and send_resolved the group's policy runs with: the shortest of
    any route and whether any route wants resolved alerts, so no route waits on another."""
    routes = tree.walk()
    return min(r.repeat_interval for r in routes), any(r.send_resolved for r in routes)


def receivers_for(tree: Route, group: str, labels: Mapping[str, str]) -> list[tuple[Route, str]]:
    """Each route an alert of ``group`` with ``labels`` goes to, with its group key."""
    merged = route_labels(group, labels)
    return [(r, group_key(r, group_labels(r, merged))) for r in tree.match(merged)]
