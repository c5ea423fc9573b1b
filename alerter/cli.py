"""``stackwatch rules``, ``stackwatch alerts`` and ``stackwatch silence``: the alerter by hand."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alerter import watchdog_cli
from alerter.errors import AlerterError
from alerter.model import FIRING, PENDING, STATES
from alerter.silences import parse_silence_id, silence_duration
from stackwatch.catalog import BUILTIN_ASSIGNMENTS, CHECK_FLOWS, NOT_EVALUATED, evaluating_flow
from stackwatch.config import load_config
from stackwatch.format import by_unit, format_duration

if TYPE_CHECKING:
    from alerter.rules import RuleSet


class RulesInvalidError(AlerterError):
    """``rules check`` found problems (already printed)."""


# C0 and C1 controls, DEL, line and paragraph separators and bidi overrides: what would move
# the cursor, recolour or retitle the terminal, or reorder the line, if printed as it is
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def printable(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\n``)."""
    return _CONTROL.sub(_escape_char, text)


def _print(text: str = "") -> None:
    # line breaks the command itself writes stay; anything else a label could carry is escaped
    sys.stdout.write("\n".join(printable(line) for line in text.split("\n")) + "\n")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")


def _since(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def register(subparsers: Any, config_options: argparse.ArgumentParser) -> None:
    watchdog_cli.register(subparsers, config_options)
    rules = subparsers.add_parser(
        "rules",
        help="validate alerting rule files",
        description="Validate Prometheus alerting-rule files.",
    )
    rules_sub = rules.add_subparsers(title="commands", metavar="COMMAND", required=True)
    check = rules_sub.add_parser(
        "check",
        parents=[config_options],
        help="check rule files",
        description="Check rule files: YAML syntax, schema, unknown keys, duplicate names, "
        "durations, templates and PromQL syntax (with promtool when installed). Prints "
        "FILE:LINE: RULE: MESSAGE for each problem and exits 1 if there is any.",
    )
    check.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="rule files, folders or globs (default: rules.paths from the config)",
    )
    check.set_defaults(func=rules_check_command)

    alerts = subparsers.add_parser(
        "alerts",
        help="evaluate rules and show alert states",
        description="Evaluate alerting rules against Prometheus and show alert states.",
    )
    alerts_sub = alerts.add_subparsers(title="commands", metavar="COMMAND", required=True)
    evaluate = alerts_sub.add_parser(
        "evaluate",
        parents=[config_options],
        help="evaluate rule groups once (no Prefect needed)",
        description="Evaluate rule groups once, as their check flows do: update the state "
        "database and send (or queue) mail. Prints the alert states and what was sent.",
    )
    evaluate.add_argument(
        "--group",
        action="append",
        metavar="NAME",
        help="group to evaluate (repeatable; default: every group)",
    )
    evaluate.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing and send nothing; print what would be sent",
    )
    evaluate.set_defaults(func=alerts_evaluate_command)
    listing = alerts_sub.add_parser(
        "list",
        parents=[config_options],
        help="show alert states from the database",
        description="Show pending and firing alerts (and resolved ones with --all) from the "
        "state database, plus mail still waiting in the outbox.",
    )
    listing.add_argument("--all", action="store_true", help="include resolved alerts")
    listing.set_defaults(func=alerts_list_command)
    test_route = alerts_sub.add_parser(
        "test-route",
        parents=[config_options],
        help="show which receivers an alert with given labels goes to",
        description="Match labels against notify.routes, as amtool config routes test does: "
        "prints the receivers that would be notified (first line, comma-separated), then each "
        "matching route with its group key, grouping and timing. The label group (the rule "
        "group) is what routes see when --labels does not give it.",
    )
    test_route.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="NAME=VALUE,...",
        help="the alert's labels, comma-separated (repeatable)",
    )
    test_route.add_argument(
        "pairs", nargs="*", metavar="NAME=VALUE", help="more labels, one per argument"
    )
    test_route.set_defaults(func=alerts_test_route_command)

    silence = subparsers.add_parser(
        "silence",
        help="silence alerts for a while",
        description="Silences stop mail for matching alerts; the alerts are still tracked.",
    )
    silence_sub = silence.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = silence_sub.add_parser(
        "add",
        parents=[config_options],
        help="add a silence",
        description="Add a silence. Matchers: name=value, name!=value, name=~regex, "
        "name!~regex; an alert is silenced when every matcher matches its labels.",
    )
    add.add_argument(
        "--match",
        "-m",
        action="append",
        required=True,
        metavar="MATCHER",
        help="label matcher, e.g. alertname=HighCpuUsage (repeatable)",
    )
    add.add_argument(
        "--for", dest="duration", required=True, metavar="DURATION", help="how long, e.g. 2h or 30m"
    )
    add.add_argument("--comment", required=True, help="why (shown in silence list)")
    add.add_argument("--author", default=None, help="who (default: the current user)")
    add.set_defaults(func=silence_add_command)
    slist = silence_sub.add_parser(
        "list",
        parents=[config_options],
        help="list active silences",
        description="List active silences (all with --all).",
    )
    slist.add_argument("--all", action="store_true", help="include expired silences")
    slist.set_defaults(func=silence_list_command)
    expire = silence_sub.add_parser(
        "expire",
        parents=[config_options],
        help="end a silence now",
        description="End a silence now.",
    )
    expire.add_argument("id", metavar="ID", help="silence id from silence list")
    expire.set_defaults(func=silence_expire_command)


def rules_check_command(args: argparse.Namespace) -> int:
    from alerter.rules import load_rules, promtool_path

    config = load_config(args.config)
    paths = args.paths or list(config.rules.paths)
    ruleset = load_rules(paths, check_promql=True)
    for problem in ruleset.problems:
        _print(str(problem))
    if not ruleset.files:
        raise RulesInvalidError(f"no rule files match {' '.join(paths)}")
    defined = {g.name for g in ruleset.groups}
    notes = [
        f"note: rules.flows names group {group!r}, which no rule file here defines"
        for group, flow in config.rules.flows.items()
        if group not in defined and BUILTIN_ASSIGNMENTS.get(group) != flow
    ]
    # problems alone when there are any, one per line as editors read them
    if ruleset.groups and not ruleset.problems:
        _print(_group_table(ruleset, config.rules.flows))
    for note in notes:
        _print(note)
    note = "" if promtool_path() else " (PromQL syntax not checked: promtool not installed)"
    summary = (
        f"{len(ruleset.files)} file(s), {len(ruleset.groups)} group(s), "
        f"{ruleset.rule_count} rule(s){note}"
    )
    if ruleset.problems:
        raise RulesInvalidError(f"{len(ruleset.problems)} problem(s) in {summary}")
    _print(f"OK: {summary}")
    return 0


def _group_table(ruleset: RuleSet, assigned: Mapping[str, str]) -> str:
    """Each group, the check flow that evaluates it, its rule count and its files."""

    def chosen(group: str) -> bool:  # by its name or by the configuration, not by default
        return group in CHECK_FLOWS or (
            group in assigned and BUILTIN_ASSIGNMENTS.get(group) != assigned[group]
        )

    def flow(group: str) -> str:
        name = evaluating_flow(group, assigned)
        return "none (for Prometheus)" if name == NOT_EVALUATED else name

    rows = [
        [
            group.name,
            flow(group.name) + ("" if chosen(group.name) else " (default)"),
            str(len(group.rules)),
            ", ".join(group.files),
        ]
        for group in ruleset.groups
    ]
    return _table(["GROUP", "EVALUATED BY", "RULES", "FILES"], rows)


def alerts_evaluate_command(args: argparse.Namespace) -> int:
    from alerter.check import group_names, run_check

    config = load_config(args.config)
    groups = args.group or group_names(config)
    if not groups:
        raise AlerterError(f"no rule groups in {', '.join(config.rules.paths)}")
    failed = False
    for index, group in enumerate(groups):
        result = run_check(config, group, dry_run=args.dry_run)
        if index:
            _print()
        title = f"== {group}" + (
            " (BLIND: alerts whose data it cannot see do not resolve)" if result.blind else ""
        )
        _print(title)
        rows = [
            [
                a.alertname,
                a.shown_state,
                _labels(a.labels),
                by_unit(a.value, a.unit, missing=""),
                _since(a.active_since),
                a.summary,
            ]
            for a in result.alerts
        ]
        _print(
            _table(["ALERT", "STATE", "LABELS", "VALUE", "SINCE", "SUMMARY"], rows)
            if rows
            else "no alerts"
        )
        for episode in result.between:
            _print(f"between checks: {episode}")
        if args.dry_run:
            _print("would send: " + ("; ".join(result.would_send) or "nothing"))
        else:
            _print("sent: " + ("; ".join(result.sent) or "nothing"))
            _print(f"queued in outbox: {result.queued}")
        for error in result.errors:
            _print(f"error: {error}")
        failed = failed or bool(result.errors)
    return 1 if failed else 0


def alerts_list_command(args: argparse.Namespace) -> int:
    from alerter.rules import load_rules
    from alerter.store import AlertStore

    config = load_config(args.config)
    units = {r.alert: r.value_unit for g in load_rules(config.rules.paths).groups for r in g.rules}
    states = STATES if args.all else (PENDING, FIRING)
    with AlertStore(config.state.path) as store:
        records = store.alerts(states)
        queued = store.queued()
        dead = store.dead()
    rows = [
        [
            r.group,
            r.alertname,
            r.state + (" (silenced)" if r.silenced else ""),
            _labels(r.labels),
            by_unit(r.value, units.get(r.alertname, ""), missing=""),
            _since(r.active_since),
            _since(r.resolved_at) if r.resolved_at else "",
            r.summary,
        ]
        for r in records
    ]
    _print(
        _table(["GROUP", "ALERT", "STATE", "LABELS", "VALUE", "SINCE", "RESOLVED", "SUMMARY"], rows)
        if rows
        else "no alerts"
    )
    if queued:
        _print(f"\n{len(queued)} mail(s) waiting in the outbox:")
        for mail in queued:
            error = f" (last error: {mail.last_error})" if mail.last_error else ""
            to = f" (to {mail.receiver})" if mail.receiver else ""
            _print(
                f"  {_since(mail.created_at)}  {mail.subject}{to}  attempts: {mail.attempts}{error}"
            )
    if dead:
        _print(f"\n{len(dead)} mail(s) not deliverable (dead): refused for good, or given up")
        for mail in dead:
            refusals = "; ".join(f"{a}: {t}" for a, t in mail.refusals().items())
            _print(f"  {_since(mail.created_at)}  {mail.subject}  refused: {refusals}")
    return 0


def parse_labels(texts: Sequence[str]) -> dict[str, str]:
    """``severity=critical,instance=web1`` (and more such arguments) as a label set."""
    labels: dict[str, str] = {}
    for text in texts:
        for pair in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = pair.partition("=")
            if not sep or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name.strip()):
                raise AlerterError(f"invalid label {pair!r}: write name=value")
            labels[name.strip()] = value.strip().strip('"')
    return labels


def alerts_test_route_command(args: argparse.Namespace) -> int:
    from alerter.routing import build_tree, group_key, group_labels

    config = load_config(args.config)
    labels = parse_labels([*args.labels, *args.pairs])
    if not labels:
        raise AlerterError("give the alert's labels: --labels severity=critical,instance=web1")
    tree = build_tree(config)
    routes = tree.match(labels)
    _print(",".join(dict.fromkeys(r.receiver for r in routes)))
    rows = []
    for route in routes:
        receiver = config.notify.receiver_config(route.receiver)
        kind = receiver.kind if receiver is not None else "?"
        rows.append(
            [
                route.receiver,
                kind,
                f"notify.routes[{route.id.replace('.', '].routes[')}]" if route.id else "root",
                group_key(route, group_labels(route, labels)),
                format_duration(route.repeat_interval),
                "yes" if route.send_resolved else "no",
            ]
        )
    _print(_table(["RECEIVER", "KIND", "ROUTE", "GROUP KEY", "REPEAT", "RESOLVED"], rows))
    return 0


def silence_add_command(args: argparse.Namespace) -> int:
    from alerter.silences import parse_matcher
    from alerter.store import AlertStore

    config = load_config(args.config)
    matchers = [parse_matcher(m) for m in args.match]
    seconds = silence_duration(args.duration)
    start = datetime.now(tz=UTC)
    end = datetime.fromtimestamp(start.timestamp() + seconds, tz=UTC)
    author = args.author or getpass.getuser()
    with AlertStore(config.state.path) as store:
        silence = store.add_silence(matchers, start, end, args.comment, author)
    _print(
        f"silence {silence.id} until {_since(silence.ends_at)} UTC: "
        + " ".join(str(m) for m in silence.matchers)
    )
    return 0


def silence_list_command(args: argparse.Namespace) -> int:
    from alerter.store import AlertStore

    config = load_config(args.config)
    now = datetime.now(tz=UTC)
    with AlertStore(config.state.path) as store:
        silences = store.silences(include_expired=args.all, now=now)
    rows = [
        [
            str(s.id),
            " ".join(str(m) for m in s.matchers),
            _since(s.starts_at),
            _since(s.ends_at),
            "active" if s.active(now) else ("expired" if s.ends_at <= now else "scheduled"),
            s.created_by,
            s.comment,
        ]
        for s in silences
    ]
    _print(
        _table(["ID", "MATCHERS", "STARTS", "ENDS", "STATE", "BY", "COMMENT"], rows)
        if rows
        else "no silences"
    )
    return 0


def silence_expire_command(args: argparse.Namespace) -> int:
    from alerter.store import AlertStore

    silence_id = parse_silence_id(args.id)
    config = load_config(args.config)
    with AlertStore(config.state.path) as store:
        silence = store.expire_silence(silence_id)
    _print(f"silence {silence.id} expired at {_since(silence.ends_at)} UTC")
    return 0
