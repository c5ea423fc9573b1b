"""Prometheus-style annotation templates (``{{ $labels.x }}``, ``{{ $value | humanize }}``).

Go template actions are translated into Jinja2 and rendered in a sandbox, so rule files written
for Prometheus render unchanged while a template can never reach Python internals.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

from jinja2 import Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from alerter.gotemplate import TemplateError, translate
from alerter.template_functions import FUNCTIONS
from stackwatch.format import format_value


class GoFloat(float):
    """``$value``: prints like Go so ``{{ $value }}`` reads ``100``, not ``100.0``."""

    def __str__(self) -> str:
        return format_value(self)


def make_environment() -> SandboxedEnvironment:
    """The sandbox annotations render in: Prometheus's functions as globals and filters."""
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    env.globals.update(FUNCTIONS)
    env.filters.update(FUNCTIONS)
    return env


_ENV = make_environment()


def check_template(template: str) -> None:
    """Raise TemplateError (with the line inside the template) if it cannot be compiled."""
    source = translate(template)
    try:
        _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", exc.lineno) from None


@functools.lru_cache(maxsize=1024)
def _compile(template: str) -> Template:
    return _ENV.from_string(translate(template))


def render(
    template: str,
    labels: Mapping[str, str],
    value: float | None,
    external_labels: Mapping[str, str] | None = None,
    external_url: str = "",
) -> str:
    """Render one annotation or label value; on error the message says what went wrong."""
    if "{{" not in template:
        return template
    try:
        return _compile(template).render(
            labels=dict(labels),
            value=GoFloat(value if value is not None else math.nan),
            external_labels=dict(external_labels or {}),
            external_url=external_url,
        )
    except Exception as exc:  # noqa: BLE001 - a template must never stop an alert from firing
        return f"<error expanding template: {exc}> {template}"
