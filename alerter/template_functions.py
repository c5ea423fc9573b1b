"""Prometheus's template functions (``humanize``, ``printf``, ``reReplaceAll``...) for Jinja2.

Regular expressions run on the ``regex`` engine with the rendering's deadline as their timeout
(Go's RE2 never backtracks; a backtracking engine can take hours on a bad pattern), and nothing
here builds text longer than the rendering's output bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import regex

from alerter.template_limits import current
from stackwatch.format import (
    format_value,
    humanize,
    humanize1024,
    humanize_duration,
    humanize_percentage,
    humanize_timestamp,
    to_number,
)

_GO_VERB = re.compile(r"%([-+# 0]*\d*(?:\.\d+)?)([vdsfgeqxX%t])")


def printf(fmt: str, *args: Any) -> str:
    """Go's ``printf`` for the verbs templates use (``%s %d %f %.2f %g %v %q %x``)."""
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        flags, verb = match.groups()
        for number in re.findall(r"\d+", flags):  # a width or precision: at most the bound
            current().check_size(int(number))
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


_GO_REFERENCE = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)")


def _expand(replacement: str, match: regex.Match[str]) -> str:
    """Go's Regexp.Expand: ``$1``, ``${1}``, ``$name``, ``$$``; an unknown group is empty."""

    def reference(ref: re.Match[str]) -> str:
        if ref.group() == "$$":
            return "$"
        name = ref.group(1) or ref.group(2)
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except (IndexError, regex.error):
            return ""

    return _GO_REFERENCE.sub(reference, replacement)


def _match(pattern: str, text: Any) -> bool:
    limits = current()
    try:
        return regex.search(pattern, str(text), timeout=limits.remaining()) is not None
    except TimeoutError:
        raise limits.too_slow() from None


def _re_replace_all(pattern: str, replacement: str, text: str) -> str:
    limits = current()
    grown = 0  # the result may be as long as the text, plus the output bound

    def one(match: regex.Match[str]) -> str:
        nonlocal grown
        out = _expand(replacement, match)
        grown += len(out) - (match.end() - match.start())
        limits.check_size(grown)
        return out

    try:
        return str(regex.sub(pattern, one, text, timeout=limits.remaining()))
    except TimeoutError:
        raise limits.too_slow() from None


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
    "match": _match,
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
