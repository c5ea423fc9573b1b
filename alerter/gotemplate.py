"""Go template actions (``{{ $labels.x }}``, ``{{ if }}``, pipelines) translated into Jinja2.

Only the actions Prometheus annotations use are supported; any other is a TemplateError that
names it, found when the rule file is loaded rather than when the alert fires.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from alerter.errors import AlerterError
from alerter.template_functions import FUNCTIONS


class TemplateError(AlerterError):
    """A template cannot be translated or parsed; ``line`` is relative to the template."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


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


# inside an action: a quoted string, a raw string, or the action's end
_IN_ACTION = re.compile(r"""\}\}|"(?:[^"\\\n]|\\.)*"|`[^`]*`""")
# Go's comment: right after ``{{`` or ``{{- ``, closed by ``*/}}`` or ``*/ -}}``
_COMMENT = re.compile(r"(?:-[ \t\r\n])?/\*")
_COMMENT_END = re.compile(r"\*/(?:[ \t\r\n]-)?\}\}")


def _actions(template: str) -> Iterator[tuple[int, int, str]]:
    """Each action's start, end and text between the braces, in one pass as Go's lexer reads
    them: an action ends at the first ``}}`` outside its strings; a comment, ``{{/* */}}``,
    ends with ``*/}}``. An action or comment that never ends is a TemplateError, with Go's
    words (Prometheus refuses the rule file)."""
    pos = 0
    while (start := template.find("{{", pos)) >= 0:
        line = template.count("\n", 0, start) + 1
        scan = start + 2
        if (comment := _COMMENT.match(template, scan)) is not None:
            close = template.find("*/", comment.end())
            if close < 0:
                raise TemplateError("unclosed comment", line)
            end = _COMMENT_END.match(template, close)
            if end is None:
                raise TemplateError("comment ends before closing delimiter", line)
            yield start, end.end(), template[start + 2 : end.end() - 2]
            pos = end.end()
            continue
        while (found := _IN_ACTION.search(template, scan)) is not None and found.group() != "}}":
            scan = found.end()
        if found is None:
            raise TemplateError("unclosed action", line)
        yield start, found.end(), template[start + 2 : found.start()]
        pos = found.end()


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


def _text(literal: str) -> str:
    """Text outside the actions, printed as it is: a Jinja string constant, never Jinja source,
    so ``{% ... %}``, ``{# #}`` or ``{% endraw %}`` in it stay text (Go prints them too)."""
    return "{{ " + repr(literal) + " }}" if literal else ""


def translate(template: str) -> str:
    """Translate a Prometheus (Go) template into Jinja2 source."""
    out: list[str] = []
    blocks: list[str] = []
    pos = 0
    for start, end, inner in _actions(template):
        literal = template[pos:start]
        trim_left, trim_right = inner.startswith("-"), inner.endswith("-") and len(inner) > 1
        body = inner[1 if trim_left else 0 : -1 if trim_right else None]
        line = template.count("\n", 0, start) + 1
        if trim_left:
            literal = literal.rstrip()
        out.append(_text(literal))
        pos = end
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
    out.append(_text(template[pos:]))
    return "".join(out)


def _action(body: str, blocks: list[str]) -> str:
    if body.startswith("/*") and body.endswith("*/"):
        return ""
    word, _, rest = body.partition(" ")
    if not body:
        raise TemplateError("missing value for command")  # Go's words, as promtool prints them
    if word == "if":
        if not rest.strip():
            raise TemplateError("missing value for if")
        blocks.append("if")
        return "{% if " + _expression(rest) + " %}"
    if word == "else":
        if not blocks or blocks[-1] != "if":
            raise TemplateError("{{ else }} outside {{ if }}")
        inner, _, cond = rest.strip().partition(" ")
        if inner == "if":
            if not cond.strip():
                raise TemplateError("missing value for if")
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
