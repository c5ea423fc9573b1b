"""Prometheus's template functions (``humanize``, ``printf``, ``reReplaceAll``...) for Jinja2."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

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
