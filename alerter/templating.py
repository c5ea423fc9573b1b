"""Prometheus-style annotation templates (``{{ $labels.x }}``, ``{{ $value | humanize }}``).

Go template actions are translated into Jinja2 and rendered in a sandbox, so rule files written
for Prometheus render unchanged while a template can never reach Python internals.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from alerter.errors import AlerterError
from stackwatch.format import (
    format_value,
    humanize,
    humanize1024,
    humanize_duration,
    humanize_percentage,
    humanize_timestamp,
    to_number,
)


class TemplateError(AlerterError):
    """A template cannot be translated or parsed; ``line`` is relative to the template."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


class GoFloat(float):
    """``$value``: prints like Go so ``{{ $value }}`` reads ``100``, not ``100.0``."""

    def __str__(self) -> str:
        return format_value(self)


_GO_VERB = re.compile(r"%([-+# 0]*\d*(?:\.\d+)?)([vdsfgeqxX%t])")


def printf(fmt: str, *args: Any) -> str:
    """Go's ``printf`` for the verbs templates use (``%s %d %f %.2f %g %v %q %x``)."""
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        flags, verb = match.groups()
        if verb == "%":
            return "%"
        arg = next(values, None)
        if arg is None:
            return f"%!{verb}(MISSING)"
        if verb == "v":
            return format_value(arg) if isinstance(arg, float) else str(arg)
        if verb == "t":
            return "true" if arg else "false"
        if verb == "q":
            return '"' + str(arg).replace("\\", "\\\\").replace('"', '\\"') + '"'
        if verb == "d":
            return f"%{flags}d" % int(arg)
        if verb in "xX" and isinstance(arg, str):
            return arg.encode().hex() if verb == "x" else arg.encode().hex().upper()
        if verb in "xX":
            return f"%{flags}{verb}" % int(arg)
        if verb == "s":
            return f"%{flags}s" % (format_value(arg) if isinstance(arg, float) else arg)
        return f"%{flags}{verb}" % to_number(arg)

    return _GO_VERB.sub(one, fmt)


def _re_replace_all(pattern: str, replacement: str, text: str) -> str:
    # Go writes group references as $1 / ${1}; Python as \1
    repl = re.sub(r"\$\{?(\d+)\}?", r"\\\1", replacement)
    return re.sub(pattern, repl, text)


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _strip_domain(host: str) -> str:
    name, sep, port = host.partition(":")
    return name.split(".", 1)[0] + sep + port


def _index(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except (KeyError, IndexError, TypeError):
        return ""


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
    "humanizeTimestamp": humanize_timestamp,
    "printf": printf,
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
    "match": lambda pattern, text: re.search(pattern, str(text)) is not None,
    "reReplaceAll": _re_replace_all,
    "stripPort": _strip_port,
    "stripDomain": _strip_domain,
    "index": _index,
    "len": len,
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda a: not a,
    "and": lambda *a: all(a),
    "or": lambda *a: any(a),
    "safeHtml": str,
}

_VARIABLES = {
    "$labels": "labels",
    "$value": "value",
    "$externalLabels": "external_labels",
    "$externalURL": "external_url",
    ".Labels": "labels",
    ".Value": "value",
    ".ExternalLabels": "external_labels",
    ".ExternalURL": "external_url",
}

# --- Go template -> Jinja2 ------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<var>(?:\$[A-Za-z_]\w*|\$|\.[A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)*)
      | (?P<ident>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)
      | (?P<punct>[()|])
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise TemplateError(f"unexpected {text[pos:].strip()[:20]!r} in {{{{ {text} }}}}")
        kind = match.lastgroup or "punct"
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _term(kind: str, value: str) -> str:
    if kind == "string":
        try:
            text = json.loads(value)  # Go's escapes (\n, \t, \", \uXXXX) are JSON's
        except ValueError:
            text = value[1:-1]
        return repr(text)
    if kind == "raw":
        return repr(value[1:-1])
    if kind == "number":
        return value
    if kind == "var":
        for go, jinja in _VARIABLES.items():
            if value == go or value.startswith(go + "."):
                rest = value[len(go) :]
                return jinja + "".join(f"[{part!r}]" for part in rest.split(".")[1:])
        if value.startswith("$"):
            raise TemplateError(f"unknown variable {value}")
        raise TemplateError(f"unknown field {value}")
    if value in ("true", "false"):
        return value.capitalize()
    if value == "nil":
        return "None"
    raise TemplateError(f"unknown function {value!r}")


class _Parser:
    """Translates one Go pipeline (``$value | humanize``, ``printf "%.1f" $value``)."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pipeline(self) -> str:
        result = self.command(None)
        while (token := self.peek()) is not None and token == ("punct", "|"):
            self.pos += 1
            result = self.command(result)
        return result

    def command(self, piped: str | None) -> str:
        args: list[str] = []
        while (token := self.peek()) is not None and token not in (
            ("punct", "|"),
            ("punct", ")"),
        ):
            args.append(self.operand())
        if not args:
            raise TemplateError("empty command in pipeline")
        head, *rest = args
        if piped is not None:
            rest.append(piped)
        if head.startswith("fn:"):
            return f"{head[3:]}({', '.join(rest)})"
        if rest:
            raise TemplateError(f"{head} is not a function")
        return head

    def operand(self) -> str:
        kind, value = self.tokens[self.pos]
        self.pos += 1
        if (kind, value) == ("punct", "("):
            inner = self.pipeline()
            if self.peek() != ("punct", ")"):
                raise TemplateError("unclosed parenthesis")
            self.pos += 1
            return f"({inner})"
        if kind == "ident" and value in FUNCTIONS:
            return "fn:" + value
        return _term(kind, value)


def _expression(text: str) -> str:
    parser = _Parser(_tokens(text))
    result = parser.pipeline()
    if parser.peek() is not None:
        raise TemplateError(f"unexpected {parser.peek()} in {{{{ {text.strip()} }}}}")
    return result.removeprefix("fn:")


def translate(template: str) -> str:
    """Translate a Prometheus (Go) template into Jinja2 source."""
    out: list[str] = []
    blocks: list[str] = []
    pos = 0
    for match in _ACTION.finditer(template):
        literal = template[pos : match.start()]
        trim_left, body, trim_right = match.groups()
        line = template.count("\n", 0, match.start()) + 1
        if trim_left:
            literal = literal.rstrip()
        if any(marker in literal for marker in ("{%", "{#", "%}", "#}", "}}")):
            literal = "{% raw %}" + literal + "{% endraw %}"
        out.append(literal)
        pos = match.end()
        if trim_right:
            while pos < len(template) and template[pos].isspace():
                pos += 1
        body = body.strip()
        try:
            out.append(_action(body, blocks))
        except TemplateError as exc:
            raise TemplateError(str(exc), line) from None
    if blocks:
        raise TemplateError(f"unclosed {{{{ {blocks[-1]} }}}}: missing {{{{ end }}}}")
    rest = template[pos:]
    if any(marker in rest for marker in ("{%", "{#", "%}", "#}", "{{", "}}")):
        rest = "{% raw %}" + rest + "{% endraw %}"
    out.append(rest)
    return "".join(out)


def _action(body: str, blocks: list[str]) -> str:
    if body.startswith("/*") and body.endswith("*/"):
        return ""
    word, _, rest = body.partition(" ")
    if word == "if":
        blocks.append("if")
        return "{% if " + _expression(rest) + " %}"
    if word == "else":
        if not blocks or blocks[-1] != "if":
            raise TemplateError("{{ else }} outside {{ if }}")
        inner, _, cond = rest.strip().partition(" ")
        if inner == "if":
            return "{% elif " + _expression(cond) + " %}"
        if rest.strip():
            raise TemplateError(f"unexpected {rest.strip()!r} after else")
        return "{% else %}"
    if word == "end":
        if not blocks:
            raise TemplateError("{{ end }} without a block to close")
        blocks.pop()
        return "{% endif %}"
    if word in ("range", "with", "define", "template", "block", "break", "continue"):
        raise TemplateError(f"template action {word!r} is not supported")
    if ":=" in body or re.match(r"\$\w*\s*=", body):
        raise TemplateError("template variables are not supported")
    return "{{ " + _expression(body) + " }}"


# --- rendering ------------------------------------------------------------------------------


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
