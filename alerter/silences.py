"""Silences: label matchers with an end time; matching alerts are tracked but not mailed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerter.errors import AlerterError
from stackwatch import matchers
from stackwatch.config import parse_duration
from stackwatch.matchers import Matcher

#: the longest silence: past it, an alert is better off with its rule changed
MAX_SILENCE = "365d"
MIN_SILENCE = "1s"
#: SQLite's largest integer, the largest id a silence can have
MAX_SILENCE_ID = 2**63 - 1


class SilenceError(AlerterError):
    """A silence cannot be created or found."""


def parse_matcher(text: str) -> Matcher:
    """One matcher of ``silence add --match``."""
    try:
        return matchers.parse_matcher(text)
    except ValueError as exc:
        raise SilenceError(str(exc)) from None


def silence_duration(text: str) -> float:
    """The seconds of ``silence add --for``, from 1s to a year."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise SilenceError(f"--for: {exc}") from None
    if not parse_duration(MIN_SILENCE) <= seconds <= parse_duration(MAX_SILENCE):
        raise SilenceError(f"--for: must be between {MIN_SILENCE} and {MAX_SILENCE}")
    return seconds


def parse_silence_id(text: str) -> int:
    """A silence id as typed on the command line: a whole number SQLite can hold."""
    # isdecimal first: int() of 5,000 digits is itself an error (and slow)
    stripped = text.strip()
    if stripped.isdecimal() and len(stripped) <= 19 and 1 <= int(stripped) <= MAX_SILENCE_ID:
        return int(stripped)
    raise SilenceError(
        f"silence id must be a whole number from 1 to {MAX_SILENCE_ID}, not {text!r}"
    )


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
