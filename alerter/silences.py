"""Silences: label matchers with an end time; matching alerts are tracked but not mailed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerter.errors import AlerterError

_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class SilenceError(AlerterError):
    """A silence cannot be created or found."""


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


def parse_matcher(text: str) -> Matcher:
    match = _MATCHER.match(text)
    if match is None:
        raise SilenceError(
            f"invalid matcher {text!r}: write name=value, name!=value, name=~regex or name!~regex"
        )
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise SilenceError(f"invalid regular expression in {text!r}: {exc}") from None
    return Matcher(name, op, value)


@dataclass(frozen=True)
class Silence:
    """Suppresses mail for alerts whose labels match every matcher, from start to end."""

    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime

    def active(self, now: datetime | None = None) -> bool:
        moment = now or datetime.now(tz=UTC)
        return self.starts_at <= moment < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


def silenced_by(
    silences: Sequence[Silence], labels: Mapping[str, str], now: datetime
) -> int | None:
    """The id of the first active silence matching ``labels``, if any."""
    for silence in silences:
        if silence.active(now) and silence.matches(labels):
            return silence.id
    return None
