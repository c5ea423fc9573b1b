"""Prometheus alerting-rule files: a typed model, and a loader that reports ``file:line`` problems.

A problem in one rule drops that rule; a file that is not valid YAML is dropped whole. Neither
stops the rules of other groups from loading, so one broken file never silences the others.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from alerter.gotemplate import TemplateError
from alerter.templating import check_template
from stackwatch.config import parse_duration
from stackwatch.yamlfile import yaml_error

GROUP_KEYS = ("name", "interval", "query_offset", "limit", "labels", "rules")
RULE_KEYS = ("alert", "expr", "for", "keep_firing_for", "labels", "annotations")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_GROUP_NAME = re.compile(
    r"""^\s*-?\s*name\s*:\s*["']?([^"'#\n]+?)["']?\s*(?:#.*)?$""", re.MULTILINE
)


@dataclass(frozen=True)
class Rule:
    """One alerting rule; ``for_`` and ``keep_firing_for`` are seconds."""

    alert: str
    expr: str
    group: str
    for_: float = 0.0
    keep_firing_for: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class RuleGroup:
    """A group of rules: evaluated together by the check flow of the same name."""

    name: str
    rules: tuple[Rule, ...]
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class RuleProblem:
    """One problem found in a rule file."""

    file: str
    line: int | None
    rule: str | None
    message: str
    group: str | None = None
    # for a problem with the whole file: the groups its text seems to define (may be empty)
    groups: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.rule}: {self.message}" if self.rule else f"{where}: {self.message}"


@dataclass(frozen=True)
class RuleSet:
    """Everything loaded from the rule files, with every problem found on the way."""

    groups: tuple[RuleGroup, ...]
    problems: tuple[RuleProblem, ...]
    files: tuple[str, ...] = ()

    def group(self, name: str) -> RuleGroup | None:
        return next((g for g in self.groups if g.name == name), None)

    def problems_for(self, group: str) -> list[RuleProblem]:
        """Problems that may affect ``group``: its own, and those of files that seem to define
        it (or that define nothing recognisable)."""
        return [
            p
            for p in self.problems
            if p.group == group or (p.group is None and (not p.groups or group in p.groups))
        ]

    @property
    def rule_count(self) -> int:
        return sum(len(g.rules) for g in self.groups)


@dataclass(frozen=True)
class Expression:
    """A rule's PromQL and where it is written, for syntax checks."""

    expr: str
    file: str
    line: int
    rule: str
    group: str
    rule_line: int


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _mapping(node: yaml.Node) -> list[tuple[yaml.ScalarNode, yaml.Node]] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _scalar(node: yaml.Node) -> str | None:
    """The text of a string-like scalar (numbers and booleans included, null excluded)."""
    if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return str(node.value)
    return None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "empty"
    return "a scalar"


class _FileLoader:
    """Walks the YAML node tree of one file, so every problem knows its line."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[RuleProblem] = []
        self.groups: list[RuleGroup] = []
        self.exprs: list[Expression] = []

    def problem(
        self, node: yaml.Node | int | None, rule: str | None, message: str, group: str | None = None
    ) -> None:
        line = _line(node) if isinstance(node, yaml.Node) else node
        self.problems.append(RuleProblem(self.filename, line, rule, message, group))

    def load(self, text: str) -> None:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            line, message = yaml_error(exc)
            self.problem(line, None, message)
            return
        if root is None:
            self.problem(1, None, "empty rule file: expected a mapping with 'groups'")
            return
        items = _mapping(root)
        if items is None:
            self.problem(root, None, f"expected a mapping with 'groups', found {_kind(root)}")
            return
        groups_node: yaml.Node | None = None
        for key, value in items:
            if key.value == "groups":
                groups_node = value
            else:
                self.problem(key, None, f"unknown key {key.value!r}: expected 'groups'")
        if groups_node is None:
            self.problem(root, None, "missing key 'groups'")
            return
        if not isinstance(groups_node, yaml.SequenceNode):
            self.problem(groups_node, None, f"'groups' must be a list, found {_kind(groups_node)}")
            return
        for group_node in groups_node.value:
            self.load_group(group_node)

    def load_group(self, node: yaml.Node) -> None:
        items = _mapping(node)
        if items is None:
            self.problem(node, None, f"a group must be a mapping, found {_kind(node)}")
            return
        values = {k.value: v for k, v in items}
        name_node = values.get("name")
        name = _scalar(name_node) if name_node is not None else None
        if not name:
            self.problem(name_node or node, None, "group has no name")
            return
        for key, _value in items:
            if key.value not in GROUP_KEYS:
                self.problem(key, None, f"group {name!r}: unknown key {key.value!r}", name)
        group_labels = self.labels(values.get("labels"), f"group {name!r}", name) or {}
        rules_node = values.get("rules")
        rules: list[Rule] = []
        if rules_node is None or not isinstance(rules_node, yaml.SequenceNode):
            self.problem(rules_node or node, None, f"group {name!r}: 'rules' must be a list", name)
        else:
            seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
            for rule_node in rules_node.value:
                rule = self.load_rule(rule_node, name, group_labels)
                if rule is None:
                    continue
                identity = (rule.alert, tuple(sorted(rule.labels.items())))
                if identity in seen:
                    self.problem(
                        rule.line,
                        rule.alert,
                        f"duplicate alert name in group {name!r} (first on line {seen[identity]}); "
                        "give one of them different labels or another name",
                        name,
                    )
                    continue
                seen[identity] = rule.line
                rules.append(rule)
        self.groups.append(RuleGroup(name, tuple(rules), self.filename, _line(node)))

    def labels(
        self,
        node: yaml.Node | None,
        owner: str,
        group: str,
        rule: str | None = None,
        templated: bool = False,
    ) -> dict[str, str] | None:
        if node is None or node.tag == "tag:yaml.org,2002:null":
            return {}
        items = _mapping(node)
        what = "annotations" if templated else "labels"
        if items is None:
            self.problem(node, rule, f"{owner}: {what} must be a mapping", group)
            return None
        out: dict[str, str] = {}
        ok = True
        for key, value in items:
            text = _scalar(value)
            if not _LABEL_NAME.match(key.value):
                self.problem(key, rule, f"invalid {what[:-1]} name {key.value!r}", group)
                ok = False
            elif text is None:
                self.problem(value, rule, f"{what[:-1]} {key.value!r} must be a string", group)
                ok = False
            else:
                try:
                    check_template(text)
                except TemplateError as exc:
                    block = getattr(value, "style", None) in ("|", ">")
                    line = _line(value) + (exc.line if block else 0)
                    self.problem(line, rule, f"{what[:-1]} {key.value!r}: template: {exc}", group)
                    ok = False
                out[key.value] = text
        return out if ok else None

    def duration(self, node: yaml.Node | None, key: str, rule: str, group: str) -> float | None:
        if node is None:
            return 0.0
        text = _scalar(node)
        if text is None:
            self.problem(
                node,
                rule,
                f"{key}: must be a duration like 30s, 5m or 1h, found {_kind(node)}",
                group,
            )
            return None
        if text == "0":
            return 0.0
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.problem(node, rule, f"{key}: {exc}", group)
            return None

    def load_rule(
        self, node: yaml.Node, group: str, group_labels: Mapping[str, str]
    ) -> Rule | None:
        items = _mapping(node)
        if items is None:
            self.problem(node, None, f"group {group!r}: a rule must be a mapping", group)
            return None
        values = {k.value: v for k, v in items}
        if "record" in values:
            record = _scalar(values["record"]) or "?"
            self.problem(
                node,
                record,
                "recording rules are not supported: stackwatch "
                "evaluates alerting rules only; keep recording rules in Prometheus",
                group,
            )
            return None
        alert_node = values.get("alert")
        alert = _scalar(alert_node) if alert_node is not None else None
        if not alert:
            self.problem(
                alert_node or node, None, f"group {group!r}: rule has no 'alert' name", group
            )
            return None
        before = len(self.problems)
        for key, _value in items:
            if key.value not in RULE_KEYS:
                self.problem(key, alert, f"unknown key {key.value!r}", group)
        expr_node = values.get("expr")
        expr = _scalar(expr_node) if expr_node is not None else None
        if not expr or not expr.strip():
            self.problem(expr_node or node, alert, "missing or empty 'expr'", group)
        elif expr_node is not None:
            block = isinstance(expr_node, yaml.ScalarNode) and expr_node.style in ("|", ">")
            self.exprs.append(
                Expression(
                    expr,
                    self.filename,
                    _line(expr_node) + (1 if block else 0),
                    alert,
                    group,
                    _line(node),
                )
            )
        for_ = self.duration(values.get("for"), "for", alert, group)
        keep = self.duration(values.get("keep_firing_for"), "keep_firing_for", alert, group)
        labels = self.labels(values.get("labels"), f"rule {alert!r}", group, alert)
        annotations = self.labels(
            values.get("annotations"), f"rule {alert!r}", group, alert, templated=True
        )
        if (
            len(self.problems) > before
            or labels is None
            or annotations is None
            or expr is None
            or for_ is None
            or keep is None
        ):
            return None
        return Rule(
            alert=alert,
            expr=expr.strip(),
            group=group,
            for_=for_,
            keep_firing_for=keep,
            labels={**group_labels, **labels},
            annotations=annotations,
            file=self.filename,
            line=_line(node),
        )


def expand_paths(patterns: Iterable[str]) -> list[str]:
    """Expand globs; a pattern that matches nothing is kept, so it is reported as missing."""
    files: list[str] = []
    for pattern in patterns:
        if Path(pattern).is_dir():
            matches = sorted(str(p) for p in Path(pattern).glob("*.y*ml"))
        else:
            matches = sorted(glob.glob(pattern))  # noqa: PTH207 - patterns may be absolute
            if not matches and not glob.has_magic(pattern):
                matches = [pattern]
        files.extend(m for m in matches if m not in files)
    return files


def load_rules(patterns: Iterable[str], *, check_promql: bool = False) -> RuleSet:
    """Load every rule file matching ``patterns``; problems are collected, never raised.

    With ``check_promql`` the expressions are also parsed by ``promtool`` when it is installed.
    """
    groups: list[RuleGroup] = []
    problems: list[RuleProblem] = []
    files = expand_paths(patterns)
    seen_groups: dict[str, RuleGroup] = {}
    exprs: list[Expression] = []
    for filename in files:
        try:
            text = Path(filename).read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(RuleProblem(filename, None, None, f"cannot read: {exc.strerror}"))
            continue
        loader = _FileLoader(filename)
        loader.load(text)
        guessed = tuple(dict.fromkeys(m.group(1).strip() for m in _GROUP_NAME.finditer(text)))
        problems.extend(
            replace(p, groups=guessed) if p.group is None else p for p in loader.problems
        )
        exprs.extend(loader.exprs)
        for group in loader.groups:
            first = seen_groups.get(group.name)
            if first is not None:
                problems.append(
                    RuleProblem(
                        filename,
                        group.line,
                        None,
                        f"duplicate group name {group.name!r} (first in {first.file}:{first.line})",
                        group.name,
                    )
                )
                continue
            seen_groups[group.name] = group
            groups.append(group)
    if check_promql:
        bad = check_expressions(exprs)
        if bad:
            problems.extend(problem for problem, _ in bad)
            broken = {(e.file, e.rule_line) for _, e in bad}
            groups = [
                RuleGroup(
                    g.name,
                    tuple(r for r in g.rules if (r.file, r.line) not in broken),
                    g.file,
                    g.line,
                )
                for g in groups
            ]
    problems.sort(key=lambda p: (p.file, p.line or 0))
    return RuleSet(tuple(groups), tuple(problems), tuple(files))


_PROMTOOL_ERROR = re.compile(r'rule (\d+), "r(\d+)": could not parse expression: (.*)$')


def promtool_path() -> str | None:
    return shutil.which("promtool")


def check_expressions(exprs: Sequence[Expression]) -> list[tuple[RuleProblem, Expression]]:
    """Parse each PromQL expression with ``promtool check rules``; one problem per bad one."""
    promtool = promtool_path()
    if promtool is None or not exprs:
        return []
    document = {
        "groups": [
            {
                "name": "check",
                "rules": [{"alert": f"r{i}", "expr": e.expr} for i, e in enumerate(exprs)],
            }
        ]
    }
    with tempfile.TemporaryDirectory(prefix="stackwatch-rules-") as tmp:
        path = Path(tmp) / "exprs.yml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        completed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [promtool, "check", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    problems = []
    for line in (completed.stdout + completed.stderr).splitlines():
        match = _PROMTOOL_ERROR.search(line)
        if match:
            expr = exprs[int(match.group(2))]
            message = match.group(3)
            position = re.match(r"(\d+):(\d+): (.*)$", message)
            number = expr.line
            if position:
                number += int(position.group(1)) - 1
                message = position.group(3)
            problems.append(
                (
                    RuleProblem(
                        expr.file, number, expr.rule, f"invalid PromQL: {message}", expr.group
                    ),
                    expr,
                )
            )
    return problems
