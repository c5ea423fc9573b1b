"""Prometheus-style annotation templates (``{{ $labels.x }}``, ``{{ $value | humanize }}``).

Go template actions are translated into Jinja2 and rendered in a sandbox, so rule files written
for Prometheus render unchanged while a template can never reach Python internals. A rendering
is bounded (`alerter.template_limits`): past its deadline, or where a function would build more
than the output bound, it ends with ``<error expanding template: ...>``; longer output is cut.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import Template, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from alerter import template_limits
from alerter.gotemplate import TemplateError, translate
from alerter.template_functions import FUNCTIONS
from stackwatch.format import format_value

log = logging.getLogger(__name__)


class GoFloat(float):
    """``$value``: prints like Go so ``{{ $value }}`` reads ``100``, not ``100.0``."""

    def __str__(self) -> str:
        return format_value(self)


class GoMap(dict[str, str]):
    """``$labels`` and ``$externalLabels``: print as Go prints a map, ``map[a:1 b:2]``, keys
    sorted, so ``{{ $labels }}`` reads as it does in Prometheus."""

    def __str__(self) -> str:
        return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(self.items())) + "]"

    __repr__ = __str__


class _BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, checking the rendering's deadline around every call a template makes."""

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        limits = template_limits.current()
        limits.remaining()
        result = super().call(context, obj, *args, **kwargs)
        limits.remaining()
        return result


def make_environment() -> SandboxedEnvironment:
    """The sandbox annotations render in: Prometheus's functions as globals and filters."""
    env = _BoundedEnvironment(autoescape=False, keep_trailing_newline=True)
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
        with template_limits.bounded() as limits:
            chunks = _compile(template).generate(
                labels=GoMap(labels),
                value=GoFloat(value if value is not None else math.nan),
                external_labels=GoMap(external_labels or {}),
                external_url=external_url,
            )
            return _bounded_text(chunks, limits)
    except (template_limits.TemplateLimitError, TemplateError) as exc:  # a rule never checked
        log.warning("template %.200r: %s", template, exc)
        return f"<error expanding template: {exc}> {template}"
    except Exception as exc:  # noqa: BLE001 - a template must never stop an alert from firing
        return f"<error expanding template: {exc}> {template}"


def _bounded_text(chunks: Iterator[str], limits: template_limits.Limits) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        limits.remaining()
        if size + len(chunk) > limits.max_chars:
            out.append(chunk[: limits.max_chars - size])
            log.warning("template output cut at %d characters", limits.max_chars)
            return "".join(out) + f"… [cut: longer than {limits.max_chars} characters]"
        out.append(chunk)
        size += len(chunk)
    return "".join(out)
