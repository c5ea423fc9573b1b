"""The rule-file schema as pydantic models: ``groups`` → group → alerting rules, no unknown keys.

Validators say what is wrong with a value; where it is written and in whose name it is
reported is the loader's business (alerter.rules.problems). Input is the data of
alerter.rules.document, in which every scalar is the text the author wrote.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from alerter.gotemplate import TemplateError
from alerter.templating import check_template
from stackwatch.config import parse_duration

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def kind(value: Any) -> str:
    """How a problem names the YAML found where something else was expected."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return "a scalar"


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _label_name(value: str) -> str:
    if not _LABEL_NAME.match(value):
        raise PydanticCustomError("label_name", "invalid name")
    return value


@functools.lru_cache(maxsize=1024)
def _template_problem(text: str) -> TemplateError | None:
    # the loader validates a file's good parts a second time: parse each template once
    try:
        check_template(text)
    except TemplateError as exc:
        return exc
    return None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("label_type", "must be a string")
    problem = _template_problem(value)
    if problem is not None:
        raise PydanticCustomError(
            "template",
            "template: {message}",
            {"message": str(problem), "template_line": problem.line},
        )
    return value


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


# Prometheus accepts up to 292y; stackwatch queries the whole window of ``for`` and
# ``keep_firing_for`` at each evaluation, and a condition held for a month is no alert any more
MAX_FOR = 30 * 86400.0
MAX_FOR_TEXT = "30d"


def _duration(value: Any) -> float:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "duration_type",
            "must be a duration like 30s, 5m or 1h, found {kind}",
            {"kind": kind(value)},
        )
    if value == "0":
        return 0.0
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{message}", {"message": str(exc)}) from None
    except OverflowError:  # more digits than a float holds
        seconds = math.inf
    if seconds > MAX_FOR:
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise PydanticCustomError(
            "duration_range",
            "{value} is out of range: use at most {most}",
            {"value": shown, "most": MAX_FOR_TEXT},
        )
    return seconds


def _expr(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("expr", "missing or empty 'expr'")
    return value.strip()


LabelName = Annotated[str, AfterValidator(_label_name)]
# annotations and labels alike may use templates: a label's value is rendered too
Labels = Annotated[
    dict[LabelName, Annotated[str, BeforeValidator(_text)]], BeforeValidator(_none_is_empty)
]
Duration = Annotated[float, BeforeValidator(_duration)]


class AlertingRuleSchema(BaseModel):
    """``alert``, ``expr``, ``for``, ``keep_firing_for``, ``labels``, ``annotations``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: str
    expr: Annotated[str, BeforeValidator(_expr)]
    for_: Duration = Field(default=0.0, alias="for")
    keep_firing_for: Duration = 0.0
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _alerting_rule(cls, data: Any) -> Any:
        # the rule's other problems would only distract from these
        if not isinstance(data, dict):
            raise PydanticCustomError("rule_type", "a rule must be a mapping")
        if "record" in data:
            raise PydanticCustomError(
                "recording",
                "recording rules are not supported: stackwatch evaluates alerting rules only; "
                "keep recording rules in Prometheus",
                {"record": _name(data["record"]) or "?"},
            )
        if _name(data.get("alert")) is None:
            raise PydanticCustomError("rule_alert", "rule has no 'alert' name", {"at": "alert"})
        return data


class RuleGroupSchema(BaseModel):
    """A named group; ``interval``, ``query_offset`` and ``limit`` are accepted as Prometheus
    allows them but not used: each group's check flow has its own schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    interval: Any = None
    query_offset: Any = None
    limit: Any = None
    labels: Labels = Field(default_factory=dict)
    rules: list[AlertingRuleSchema]

    @model_validator(mode="before")
    @classmethod
    def _named_group(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "group_type", "a group must be a mapping, found {kind}", {"kind": kind(data)}
            )
        if _name(data.get("name")) is None:
            raise PydanticCustomError("group_name", "group has no name", {"at": "name"})
        return data


class RuleFileSchema(BaseModel):
    """A Prometheus rule file: a mapping with one key, ``groups``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[RuleGroupSchema]

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "file_type", "expected a mapping with 'groups', found {kind}", {"kind": kind(data)}
            )
        return data
