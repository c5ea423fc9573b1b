"""Loading rule files: every problem is collected, and only what it touches is left out.

A problem in a rule drops that rule (but for an annotation whose template does not parse, which
is kept as text); a group keeps its good rules; a file that is not valid YAML is dropped whole.
Nothing here stops the groups of other files from loading.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from alerter.rules.document import Document, Loc, parse_document
from alerter.rules.model import Expression, Rule, RuleGroup, RuleProblem, RuleSet
from alerter.rules.problems import (
    DUPLICATE,
    Order,
    name_at,
    rule_loc,
    rule_order,
    schema_problems,
)
from alerter.rules.promtool import check_expressions
from alerter.rules.schema import AlertingRuleSchema, Labels, RuleFileSchema
from stackwatch.yamlfile import YamlFileError, not_utf8, read_bounded, yaml_error

_LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)
_GROUP_NAME = re.compile(
    r"""^\s*-?\s*name\s*:\s*["']?([^"'#\n]+?)["']?\s*(?:#.*)?$""", re.MULTILINE
)


@dataclass
class FileRules:
    """What one file yields: its groups, its problems and the expressions to syntax-check."""

    filename: str
    groups: list[RuleGroup] = field(default_factory=list)
    problems: list[tuple[Order, RuleProblem]] = field(default_factory=list)
    exprs: list[Expression] = field(default_factory=list)

    def add_problem(self, order: Order, line: int | None, rule: str | None, message: str) -> None:
        self.problems.append((order, RuleProblem(self.filename, line, rule, message)))

    def sorted_problems(self) -> list[RuleProblem]:
        """By line; problems on one line in the order a reader meets them."""
        return [p for _, p in sorted(self.problems, key=lambda item: (item[1].line or 0, item[0]))]


def _schema_errors(data: Any) -> list[ErrorDetails]:
    try:
        RuleFileSchema.model_validate(data)
    except ValidationError as exc:
        return exc.errors()
    return []


def load_file(filename: str, text: str) -> FileRules:
    """The groups and problems of one rule file's text."""
    result = FileRules(filename)
    try:
        document = parse_document(text)
    except yaml.YAMLError as exc:
        line, message = yaml_error(exc, text)
        result.add_problem((), line, None, message)
        return result
    if document is None:
        result.add_problem((), 1, None, "empty rule file: expected a mapping with 'groups'")
        return result
    errors = _schema_errors(document.data)
    result.problems.extend(schema_problems(errors, document, filename))
    texts = {tuple(e["loc"]) for e in errors if _annotation_template(e)}
    failed = {tuple(e["loc"]) for e in errors} - texts  # where validation stopped
    troubled = {loc[:end] for loc in failed for end in range(len(loc) + 1)}
    if () in failed or ("groups",) in failed:
        return result
    for index, data in enumerate(document.data["groups"]):
        if ("groups", index) not in failed:
            result.groups.append(_group(result, document, index, data, failed, troubled, texts))
    return result


def _annotation_template(error: ErrorDetails) -> bool:
    """An annotation Prometheus cannot parse: reported, but only text, so the rule still fires
    with it (rendered as its raw text, with a warning): a typo in a summary silences nothing."""
    loc = error["loc"]
    return error["type"] == "template" and len(loc) == 6 and loc[4] == "annotations"


def _group(
    result: FileRules,
    document: Document,
    index: int,
    data: dict[str, Any],
    failed: set[Loc],
    troubled: set[Loc],
    texts: set[Loc],
) -> RuleGroup:
    at: Loc = ("groups", index)
    name = str(data["name"])
    # broken group labels are reported; the group's rules still load, without them
    labels = {} if (*at, "labels") in troubled else _LABELS.validate_python(data.get("labels"))
    rules: list[Rule] = []
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for number, item in enumerate(data["rules"] if (*at, "rules") not in failed else []):
        loc = rule_loc(index, number)
        if loc in failed:  # not an alerting rule at all
            continue
        line = document.line(loc) or 0
        alert = str(name_at(document, (*loc, "alert")))
        expr = item.get("expr")
        if isinstance(expr, str) and expr.strip():  # checked even where the rule has problems
            expr_line = document.text_line((*loc, "expr")) or 0
            result.exprs.append(Expression(expr, result.filename, expr_line, alert, name, line))
        if loc in troubled:
            continue
        rule = _rule(_schema_of(item, loc, texts), name, labels, result.filename, line)
        identity = (rule.alert, tuple(sorted(rule.labels.items())))
        if identity in seen:
            message = (
                f"duplicate alert name in group {name!r} (first on line {seen[identity]}); "
                "give one of them different labels or another name"
            )
            order = (*rule_order(index, number), DUPLICATE)
            result.problems.append(
                (order, RuleProblem(result.filename, line, alert, message, name))
            )
            continue
        seen[identity] = line
        rules.append(rule)
    return RuleGroup(name, tuple(rules), result.filename, document.line(at) or 0)


def _schema_of(item: dict[str, Any], loc: Loc, texts: set[Loc]) -> AlertingRuleSchema:
    """The rule's schema; annotations whose templates do not parse are kept as they are."""
    broken = {str(at[5]) for at in texts if at[:4] == loc}
    if not broken:
        return AlertingRuleSchema.model_validate(item)
    annotations: dict[str, str] = item["annotations"]
    blanked = {k: "" if k in broken else v for k, v in annotations.items()}
    schema = AlertingRuleSchema.model_validate({**item, "annotations": blanked})
    return schema.model_copy(update={"annotations": dict(annotations)})


def _rule(
    schema: AlertingRuleSchema, group: str, labels: dict[str, str], filename: str, line: int
) -> Rule:
    return Rule(
        alert=schema.alert,
        expr=schema.expr,
        group=group,
        for_=schema.for_,
        keep_firing_for=schema.keep_firing_for,
        labels={**labels, **schema.labels},
        annotations=dict(schema.annotations),
        file=filename,
        line=line,
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
    problems: list[RuleProblem] = []
    files = expand_paths(patterns)
    seen_groups: dict[str, RuleGroup] = {}  # in the order first met
    exprs: list[Expression] = []
    for filename in files:
        try:
            data = read_bounded(filename)
        except OSError as exc:
            problems.append(RuleProblem(filename, None, None, f"cannot read: {exc.strerror}"))
            continue
        except YamlFileError as exc:
            problems.append(RuleProblem(filename, None, None, str(exc)))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = data.decode("utf-8", errors="replace")  # only to guess the groups it names
            loaded = FileRules(filename)
            line, message = not_utf8(data, exc.start)
            loaded.add_problem((), line, None, message)
        else:
            loaded = load_file(filename, text)
        guessed = tuple(dict.fromkeys(m.group(1).strip() for m in _GROUP_NAME.finditer(text)))
        problems.extend(
            replace(p, groups=guessed) if p.group is None else p for p in loaded.sorted_problems()
        )
        exprs.extend(loaded.exprs)
        for group in loaded.groups:
            first = seen_groups.get(group.name)
            if first is not None and filename in first.files:
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
            # the same name in another file is the same group: a file adds rules to it
            seen_groups[group.name] = (
                group if first is None else _merge(first, group, problems.append)
            )
    groups = list(seen_groups.values())
    if check_promql:
        groups = _without_bad_promql(groups, exprs, problems)
    problems.sort(key=lambda p: (p.file, p.line or 0))
    return RuleSet(tuple(groups), tuple(problems), tuple(files))


def _identity(rule: Rule) -> tuple[str, tuple[tuple[str, str], ...]]:
    return rule.alert, tuple(sorted(rule.labels.items()))


def _merge(group: RuleGroup, more: RuleGroup, report: Callable[[RuleProblem], None]) -> RuleGroup:
    """``group`` with the rules another file adds to it; a rule with the alert name and labels
    of one already in the group is reported and left out, as within one file."""
    seen = {_identity(rule): rule for rule in group.rules}
    added: list[Rule] = []
    for rule in more.rules:
        first = seen.get(_identity(rule))
        if first is not None:
            message = (
                f"duplicate alert name in group {group.name!r} (first in {first.file}:"
                f"{first.line}); give one of them different labels or another name"
            )
            report(RuleProblem(rule.file, rule.line, rule.alert, message, group.name))
            continue
        seen[_identity(rule)] = rule
        added.append(rule)
    return replace(group, rules=(*group.rules, *added), more_files=(*group.more_files, more.file))


def _without_bad_promql(
    groups: Sequence[RuleGroup], exprs: Sequence[Expression], problems: list[RuleProblem]
) -> list[RuleGroup]:
    bad = check_expressions(exprs)
    problems.extend(problem for problem, _ in bad)
    broken = {(e.file, e.rule_line) for _, e in bad}
    return [
        replace(g, rules=tuple(r for r in g.rules if (r.file, r.line) not in broken))
        for g in groups
    ]
