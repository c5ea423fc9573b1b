"""What the rule files hold once loaded: rules, groups, and the problems found on the way."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# how an annotation formats $value tells the value's unit (stackwatch.format.UNITS)
_VALUE_UNITS = (
    (re.compile(r"humanizePercentage"), "ratio"),
    (re.compile(r"humanize1024"), "bytes"),
    (re.compile(r"humanizeDuration"), "seconds"),
    (re.compile(r"""printf\s+\\?"%\.0f"""), "count"),
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

    @property
    def value_unit(self) -> str:
        """The unit of the alert's value, as its annotations format ``$value``; "" unknown."""
        text = " ".join(v for v in self.annotations.values() if "$value" in v)
        found = [(m.start(), unit) for pattern, unit in _VALUE_UNITS if (m := pattern.search(text))]
        return min(found)[1] if found else ""


@dataclass(frozen=True)
class RuleGroup:
    """A group of rules, evaluated together by one check flow (see ``stackwatch.catalog``).
    The same name in several files is one group: ``file`` and ``line`` are where it is first
    defined, ``more_files`` the files that add rules to it."""

    name: str
    rules: tuple[Rule, ...]
    file: str = ""
    line: int = 0
    more_files: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return (self.file, *self.more_files)


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
