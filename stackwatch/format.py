"""Numbers, bytes, durations and moments as people read them, in one place for every area.

The ``humanize*`` functions and ``format_value`` print exactly as Prometheus's Go templates do,
so an annotation renders the same here as in Prometheus; the rest are the report and mail forms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from stackwatch.errors import StackwatchError

# --- Prometheus's template functions (same output as Go's) -------------------------------


def _go_g(value: float, precision: int = 4) -> str:
    """Go's ``%.4g``: like C's, but infinities print as ``+Inf``/``-Inf``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{precision}g}"


def format_value(value: float) -> str:
    """A float the way Go's ``%v`` prints it (``95.5``, ``100``, ``1e+06``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    exponent = int(exponent)  # finite here, so never the 'n'/'N'/'F' markers
    text = "".join(str(d) for d in digits)
    exp = len(text) + exponent - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # Go switches to exponent form like %g
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exponent >= 0:
        return prefix + text + "0" * exponent
    point = len(text) + exponent
    if point <= 0:
        return prefix + "0." + "0" * -point + text
    return prefix + text[:point] + "." + text[point:]


def to_number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot convert {value!r} to a number") from exc


def humanize(value: Any) -> str:
    v = to_number(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _go_g(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _go_g(v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _go_g(v) + prefix


def humanize1024(value: Any) -> str:
    v = to_number(value)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _go_g(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return _go_g(v) + prefix


def humanize_percentage(value: Any) -> str:
    return _go_g(to_number(value) * 100) + "%"


def humanize_duration(value: Any) -> str:
    v = to_number(value)
    if math.isnan(v) or math.isinf(v):
        return _go_g(v)
    if v == 0:
        return "0s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        total = int(v)
        seconds, minutes = total % 60, (total // 60) % 60
        hours, days = (total // 3600) % 24, total // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_go_g(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_go_g(v)}{prefix}s"


def humanize_timestamp(value: Any) -> str:
    v = to_number(value)
    if math.isnan(v) or math.isinf(v):
        return _go_g(v)
    moment = datetime.fromtimestamp(v, tz=UTC)
    return (
        moment.strftime("%Y-%m-%d %H:%M:%S")
        + (f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else "")
        + " +0000 UTC"
    )


# --- durations ---------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """Format seconds as a compact Prometheus duration (``1h30m``)."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out = []
    rest = round(seconds)
    for unit, suffix in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if rest >= unit:
            out.append(f"{rest // unit}{suffix}")
            rest %= unit
    return "".join(out)


# --- reports and mail ----------------------------------------------------------------------


def percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value * 100:.1f} %"


def human_bytes(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def human_duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "—"
    seconds = max(0.0, seconds)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


def latency(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "—"
    return f"{seconds * 1000:.0f} ms"


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")


def short_reason(exc: BaseException) -> str:
    """The gist of a connection error ("Connection refused") rather than urllib3's whole story."""
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(1).strip().rstrip(".,")
    if "timed out" in text.lower():
        return "timed out"
    return text if len(text) <= 160 else text[:157] + "..."


def stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def day(moment: datetime) -> str:
    """The UTC date a report is about (``2026-11-27``), as its title and subject name it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def count(value: float | None) -> str:
    """A count read from Prometheus (a float) as a whole number; ``—`` when there is none."""
    if value is None or math.isnan(value):
        return "—"
    return str(round(value))


def labels_text(labels: Mapping[str, str], skip: Sequence[str] = ("alertname",)) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)


def label_matchers(labels: Mapping[str, str]) -> str:
    """Labels as PromQL spells them (``instance="a", job="b"``), for log lines."""
    return ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))


def compact_value(value: float | None, missing: str = "") -> str:
    """A sample value, short and exact (``3``, ``0.93``, ``+Inf``); ``missing`` when none."""
    if value is None or math.isnan(value):
        return missing
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def moment_text(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- values by unit, moments with their duration, labels that fit -------------------------

#: the units a value can be shown in: what the rule's own annotation formats it as
UNITS = ("ratio", "bytes", "seconds", "count")


def seconds_text(value: float | None) -> str:
    """Seconds as people say them: ``73 ms``, ``45 s``, ``12 min``, ``3 h 5 min``."""
    if value is None or math.isnan(value):
        return "—"
    sign = "-" if value < 0 else ""
    size = abs(value)
    if size == 0:
        return "0 s"
    if size < 1:
        return f"{sign}{size * 1000:.3g} ms"
    return sign + human_duration(size)


def by_unit(value: float | None, unit: str, missing: str = "—") -> str:
    """A value in its unit (``90.5 %``, ``1.5 GiB``, ``12 min``, ``9``); unknown: exact."""
    if value is None or math.isnan(value):
        return missing
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if unit == "ratio":
        return percent(value)
    if unit == "bytes":
        return human_bytes(value)
    if unit == "seconds":
        return seconds_text(value)
    if unit == "count":
        return count(value)
    return compact_value(value, missing=missing)


def lasting(seconds: float | None) -> str:
    """How long something has lasted, as a mail says it: ``for 12 min``."""
    if seconds is None or math.isnan(seconds):
        return ""
    if seconds < 1:
        return "for less than 1 s"
    return "for " + human_duration(seconds)


def since_text(start: float | None, end: float | None) -> str:
    """The moment something began and how long it has lasted: ``2026-12-01 20:10 UTC,
    for 12 min``."""
    if start is None:
        return "—"
    moment = stamp(datetime.fromtimestamp(start, tz=UTC))
    return f"{moment}, {lasting(end - start)}" if end is not None else moment


_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{12})[0-9a-f]{52}(?![0-9a-f])")
#: the longest label value a table shows whole; longer ones are cut (the full one in a title)
LABEL_WIDTH = 40


def short_ids(value: str) -> str:
    """Container ids cut to 12 characters, as ``docker ps`` shows them, wherever they appear
    (``/docker/3f4e…`` or ``docker-3f4e….scope``)."""
    return _CONTAINER_ID.sub(r"\1", value)


def cut(value: str, width: int = LABEL_WIDTH) -> str:
    """``value`` cut to ``width`` characters, the cut marked with ``…``."""
    return value if len(value) <= width else value[: width - 1] + "…"


def common_labels(label_sets: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The labels every one of several label sets has with the same value; none for fewer than
    two sets (one alert's labels are all its own)."""
    if len(label_sets) < 2:
        return {}
    first, *rest = label_sets
    return {k: v for k, v in sorted(first.items()) if all(other.get(k) == v for other in rest)}


def cut_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, marked with ``…``."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:  # a word boundary not too far back; else cut inside the word
        head = head[:space]
    return head.rstrip(" ,;:.-") + "…"


def last_lines(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of ``text`` (a traceback's end says what went wrong)."""
    kept = text.rstrip().splitlines()
    if len(kept) <= lines:
        return "\n".join(kept)
    before = len(kept) - lines
    return "\n".join([f"… ({before} line{'' if before == 1 else 's'} before)", *kept[-lines:]])


_OS_ERROR_REPR = re.compile(r"\w+Error\(-?\d+, '([^']+)'\)")
#: the longest reason ``error_line`` gives; a longer one is cut at a word
ERROR_LINE_LIMIT = 200


def _plain_reason(exc: BaseException) -> str | None:
    """What a low-level error says, without Python's reprs: ``Connection refused``."""
    explanation = getattr(exc, "explanation", None)  # docker.errors.APIError
    status = getattr(exc, "status_code", None)
    if isinstance(explanation, str) and explanation:
        return f"Docker answered {status}: {explanation}" if status else explanation
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    text = str(exc)
    match = _ERRNO.search(text) or _OS_ERROR_REPR.search(text)
    if match:
        return match.group(1).strip().rstrip(".,")
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return "timed out"
    return None


def error_line(exc: BaseException) -> str:
    """One readable line saying why something failed, never a Python repr or traceback.

    stackwatch's own errors say it in their message; a low-level cause quoted in it is
    replaced by its gist. Other errors give their gist, or name their kind (the log has the
    rest).
    """
    if isinstance(exc, StackwatchError):
        text = str(exc)
        cause = exc.__cause__
        if cause is not None and str(cause) and str(cause) in text:
            text = text.replace(str(cause), _plain_reason(cause) or type(cause).__name__)
    else:
        chain = [exc, *([exc.__cause__] if exc.__cause__ is not None else [])]
        reasons = [r for e in chain if (r := _plain_reason(e))]
        text = reasons[0] if reasons else f"unexpected {type(exc).__name__}: see the flow's log"
    lines = text.strip().splitlines()
    return cut_words(lines[0] if lines else type(exc).__name__, ERROR_LINE_LIMIT)
