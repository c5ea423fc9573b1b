"""Value types of the config: Prometheus-style durations, listen addresses and HTTP URLs."""

from __future__ import annotations

import math
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, ValidationInfo

_DURATION_RE = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(value: object) -> float:
    """Parse a Prometheus duration (``90s``, ``5m``, ``1h30m``) or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        try:
            return float(value)
        except OverflowError:  # an integer beyond a float
            raise ValueError("is too large") from None
    if not isinstance(value, str):
        raise ValueError("must be a duration like 30s, 5m or 1h")
    match = _DURATION_RE.match(value.strip())
    if not value.strip() or match is None:
        raise ValueError(f"invalid duration {value!r}: use a duration like 30s, 5m or 1h")
    groups = match.groups()[1::2]
    try:
        total = float(
            sum(int(g) * unit for g, unit in zip(groups, _DURATION_UNITS, strict=True) if g)
        )
    except (OverflowError, ValueError):  # beyond a float, or more digits than int() reads
        raise ValueError(f"duration {value[:20]!r}… is too long") from None
    if not math.isfinite(total):
        raise ValueError(f"duration {value[:20]!r}… is too long")
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]


def between(low: str, high: str) -> AfterValidator:
    """Bounds of a Duration, written as durations: ``Annotated[Duration, between("1s", "1h")]``."""
    low_s, high_s = parse_duration(low), parse_duration(high)

    def check(value: float) -> float:
        # NaN and infinity fail here too
        if not (math.isfinite(value) and low_s <= value <= high_s):
            raise ValueError(f"must be between {low} and {high}")
        return value

    return AfterValidator(check)


def count_between(low: int, high: int) -> AfterValidator:
    """Bounds of an integer, both included: ``Annotated[int, count_between(0, 10)]``."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return AfterValidator(check)


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


#: where each section's credentials go instead of its URL (keyed by the model's class name)
CREDENTIAL_HINTS = {
    "PrometheusConfig": "use prometheus.basic_auth with {username: …, password: {env: …}}",
    "ServiceConfig": "use services[].basic_auth with {username: …, password: {env: …}}",
    "ElasticsearchCleanupConfig": "use cleanup.elasticsearch.username and password: {env: …}",
    "PrefectConfig": "use prefect.api_key with {env: …}",
    "WebhookReceiver": "read the whole URL from a secret: url: {env: …} or {file: …}",
}


def _check_http_url(value: str, info: ValidationInfo) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"invalid URL {_safe(value)!r}: scheme must be http or https")
    if "@" in parts.netloc:
        # the URL is never echoed: it holds the secret
        model = info.config.get("title", "") if info.config else ""
        hint = CREDENTIAL_HINTS.get(model, "remove them, a link is shown in mail as it is")
        raise ValueError(
            "credentials in a URL are not allowed (they would show in links, mail and logs): "
            + hint
        )
    if not parts.hostname:
        raise ValueError(f"invalid URL {value!r}: no host")
    return value


def _safe(value: str) -> str:
    # an invalid URL may still carry user:password@; show it without them
    scheme, sep, rest = value.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return value


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
