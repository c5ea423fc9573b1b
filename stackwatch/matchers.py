"""Label matchers in Alertmanager's syntax (``name="value"``, ``!=``, ``=~``, ``!~``), shared by
silences, notification routes and inhibition rules; regular expressions are anchored."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

OPERATORS = ("=", "!=", "=~", "!~")

_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex`` (anchored)."""

    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"

    def quoted(self) -> str:
        """As Alertmanager prints it: ``name="value"``."""
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            text = json.loads(value)  # Alertmanager's double quotes take escapes (\", \\)
        except json.JSONDecodeError:
            return value[1:-1]  # a regex's own backslashes, as silences always took them
        if isinstance(text, str):
            return text
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def parse_matcher(text: str) -> Matcher:
    """One matcher; raises ValueError saying what is wrong."""
    match = _MATCHER.match(text)
    if match is None:
        raise ValueError(
            f"invalid matcher {text!r}: write name=value, name!=value, name=~regex or name!~regex"
        )
    name, op, raw = match.groups()
    value = _unquote(raw)
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression in {text!r}: {exc}") from None
    return Matcher(name, op, value)


def matches_all(matchers: tuple[Matcher, ...] | list[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
