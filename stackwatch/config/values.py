"""Value types of the config: Prometheus-style durations, listen addresses and HTTP URLs."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

_DURATION_RE = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(value: object) -> float:
    """Parse a Prometheus duration (``90s``, ``5m``, ``1h30m``) or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("must be a duration like 30s, 5m or 1h")
    match = _DURATION_RE.match(value.strip())
    if not value.strip() or match is None:
        raise ValueError(f"invalid duration {value!r}: use a duration like 30s, 5m or 1h")
    groups = match.groups()[1::2]
    return float(sum(int(g) * unit for g, unit in zip(groups, _DURATION_UNITS, strict=True) if g))


Duration = Annotated[float, BeforeValidator(parse_duration)]


def check_listen(value: str) -> str:
    _host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {value!r}: expected HOST:PORT, e.g. 0.0.0.0:9810")
    return value


ListenAddress = Annotated[str, AfterValidator(check_listen)]


def split_listen(value: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:9810`` too) into host and port."""
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - an exporter listens on all


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"invalid URL {value!r}: scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"invalid URL {value!r}: no host")
    return value


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
