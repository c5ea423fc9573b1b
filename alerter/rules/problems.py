"""Schema errors as ``file:line: rule: message`` problems, worded for the rule file's author.

Each problem carries an order key: problems on the same line (flow-style YAML) are listed as
a reader meets them, unknown keys of a group or rule before the problems of its values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import ErrorDetails

from alerter.rules.document import Document, Loc
from alerter.rules.model import RuleProblem
from alerter.rules.schema import kind
from stackwatch.yamlfile import format_loc, pydantic_message

Order = tuple[int, ...]

# after "not checked at all" (0) and unknown keys (1), the parts of a group and of a rule in the
# order a reader meets them; a group's rules come after its own parts, a duplicate rule last
_GROUP_ORDER = {"labels": 2, "rules": 3}
_RULE_ORDER = {"expr": 2, "for": 3, "keep_firing_for": 4, "labels": 5, "annotations": 6}
DUPLICATE = 9


def rule_loc(group: int, rule: int) -> Loc:
    return ("groups", group, "rules", rule)


def rule_order(group: int, rule: int) -> Order:
    return (2, group, 4, rule)


def name_at(document: Document, loc: Loc) -> str | None:
    value = document.at(loc)
    return value if isinstance(value, str) and value else None


class _Translator:
    """Turns the schema errors of one file into problems."""

    def __init__(self, document: Document, filename: str) -> None:
        self.document = document
        self.filename = filename

    def problem(
        self, line: int | None, rule: str | None, message: str, group: str | None = None
    ) -> RuleProblem:
        return RuleProblem(self.filename, line, rule, message, group)

    def file_problem(self, error: ErrorDetails, loc: Loc) -> tuple[Order, RuleProblem]:
        doc = self.document
        if not loc:  # not a mapping
            return (1,), self.problem(doc.line(loc), None, error["msg"])
        if error["type"] == "extra_forbidden":
            message = f"unknown key {loc[0]!r}: expected 'groups'"
            return (0,), self.problem(doc.key_line(loc), None, message)
        if loc == ("groups",) and error["type"] == "missing":
            return (1,), self.problem(doc.line(()), None, "missing key 'groups'")
        if loc == ("groups",) and error["type"] == "list_type":
            message = f"'groups' must be a list, found {kind(error['input'])}"
            return (1,), self.problem(doc.line(loc), None, message)
        return (1,), self.problem(doc.line(loc), None, _fallback(error, loc))

    def group_problem(self, error: ErrorDetails, loc: Loc) -> tuple[Order, RuleProblem]:
        doc, at = self.document, loc[:2]
        rest = loc[2:]
        order: Order = (2, int(loc[1]))
        name = name_at(doc, (*at, "name"))
        if not rest:  # not a mapping, or no name: nothing else of the group is checked
            ctx: Mapping[str, Any] = error.get("ctx", {})
            line = doc.line((*at, ctx["at"])) if "at" in ctx else doc.line(at)
            return (*order, 0), self.problem(line, None, error["msg"])
        if error["type"] == "extra_forbidden" and len(rest) == 1:
            message = f"group {name!r}: unknown key {rest[0]!r}"
            return (*order, 1), self.problem(doc.key_line(loc), None, message, name)
        if rest[0] == "labels":
            problem = self.label_problem(error, loc, (*at, "labels"), f"group {name!r}", None, name)
            return (*order, _GROUP_ORDER["labels"]), problem
        if rest == ("rules",):
            message = f"group {name!r}: 'rules' must be a list"
            return (*order, _GROUP_ORDER["rules"]), self.problem(doc.line(loc), None, message, name)
        return (*order, 9), self.problem(doc.line(loc), None, _fallback(error, rest), name)

    def rule_problem(self, error: ErrorDetails, loc: Loc) -> tuple[Order, RuleProblem]:
        doc, at = self.document, loc[:4]
        rest = loc[4:]
        order = rule_order(int(loc[1]), int(loc[3]))
        group = name_at(doc, (*at[:2], "name"))
        alert = name_at(doc, (*at, "alert"))
        ctx: Mapping[str, Any] = error.get("ctx", {})
        if error["type"] == "recording":
            return (*order, 0), self.problem(doc.line(at), ctx["record"], error["msg"], group)
        if not rest:  # not a mapping, or no alert name: nothing else of the rule is checked
            line = doc.line((*at, ctx["at"])) if "at" in ctx else doc.line(at)
            return (*order, 0), self.problem(line, None, f"group {group!r}: {error['msg']}", group)
        if error["type"] == "extra_forbidden" and len(rest) == 1:
            return (*order, 1), self.problem(
                doc.key_line(loc), alert, f"unknown key {rest[0]!r}", group
            )
        field = str(rest[0])
        rank = (*order, _RULE_ORDER.get(field, 9))
        if rest == ("expr",):
            return rank, self.problem(doc.line(loc), alert, "missing or empty 'expr'", group)
        if rest in (("for",), ("keep_firing_for",)):
            return rank, self.problem(doc.line(loc), alert, f"{field}: {error['msg']}", group)
        if field in ("labels", "annotations"):
            problem = self.label_problem(error, loc, (*at, field), f"rule {alert!r}", alert, group)
            return rank, problem
        return rank, self.problem(doc.line(loc), alert, _fallback(error, rest), group)

    def label_problem(
        self,
        error: ErrorDetails,
        loc: Loc,
        field: Loc,
        owner: str,
        rule: str | None,
        group: str | None,
    ) -> RuleProblem:
        doc = self.document
        what = str(field[-1])  # "labels" or "annotations"
        one = what[:-1]
        entry = loc[len(field) :]
        if not entry:
            return self.problem(doc.line(loc), rule, f"{owner}: {what} must be a mapping", group)
        key = entry[0]
        if entry[1:] == ("[key]",):
            line = doc.key_line(loc[:-1])
            return self.problem(line, rule, f"invalid {one} name {key!r}", group)
        if error["type"] == "label_type":
            return self.problem(doc.line(loc), rule, f"{one} {key!r} must be a string", group)
        if error["type"] == "template":
            line = doc.line(loc)
            if line is not None and loc in doc.blocks:
                line += int(error.get("ctx", {})["template_line"])
            return self.problem(line, rule, f"{one} {key!r}: {error['msg']}", group)
        return self.problem(doc.line(loc), rule, _fallback(error, entry), group)


def _fallback(error: ErrorDetails, loc: Loc) -> str:
    # not expected from the schema; still reported rather than lost
    where = format_loc(tuple(p for p in loc if p != "[key]"))
    return f"{where}: {pydantic_message(error)}" if where else pydantic_message(error)


def schema_problems(
    errors: Sequence[ErrorDetails], document: Document, filename: str
) -> list[tuple[Order, RuleProblem]]:
    """One problem per error, except that a label whose name is invalid is reported once."""
    translator = _Translator(document, filename)
    bad_names = {tuple(e["loc"][:-1]) for e in errors if e["loc"][-1:] == ("[key]",)}
    out = []
    for error in errors:
        loc: Loc = tuple(error["loc"])
        if loc in bad_names:
            continue
        if len(loc) >= 4 and loc[0] == "groups" and loc[2] == "rules" and isinstance(loc[3], int):
            out.append(translator.rule_problem(error, loc))
        elif len(loc) >= 2 and loc[0] == "groups" and isinstance(loc[1], int):
            out.append(translator.group_problem(error, loc))
        else:
            out.append(translator.file_problem(error, loc))
    return out
