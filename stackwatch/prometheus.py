"""A small client for Prometheus's HTTP query API, usable with Thanos, Mimir and VictoriaMetrics."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import requests

from stackwatch import __version__
from stackwatch.config import PrometheusConfig
from stackwatch.deadline_http import DeadlineAdapter, DeadlineExceededError, request_within
from stackwatch.errors import StackwatchError


class PrometheusError(StackwatchError):
    """Prometheus could not be reached or answered with an error."""


class TransientPrometheusError(PrometheusError):
    """A connection failure or a 5xx after the client's own retries: worth retrying later."""


class QueryTimeoutError(TransientPrometheusError):
    """No whole answer within ``prometheus.timeout``: the server may be slow, or the query."""


class QueryError(PrometheusError):
    """Prometheus rejected the query (4xx); the message is the server's own."""


class MalformedAnswerError(TransientPrometheusError):
    """A 200 whose body is not the query API's JSON: a proxy's page, a cut answer, another
    service on the port. Nothing can be read from it; a later try may do better."""


def _snippet(text: str) -> str:
    # one line however the body is laid out, and short
    flat = " ".join(text.split())
    return flat[:120] + ("…" if len(flat) > 120 else "")


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class Series:
    """One element of a range vector (a matrix result)."""

    labels: Mapping[str, str]
    values: list[tuple[float, float]]


T = TypeVar("T")


class QueryResult(list[T]):
    """A query's result, with what the server said about its completeness.

    Thanos and Mimir answer ``warnings`` when a store or ingester did not answer (a partial
    response); VictoriaMetrics sets ``isPartial``. Such an answer may lack series that exist.
    """

    warnings: tuple[str, ...] = ()
    partial: bool = False

    @property
    def incomplete(self) -> str | None:
        """Why the answer may lack series (the server's warnings), None when it is complete."""
        if self.partial or self.warnings:
            return "; ".join(self.warnings) or "the server marked its answer partial"
        return None


def _completeness(result: QueryResult[T], body: Mapping[str, Any]) -> QueryResult[T]:
    warnings = body.get("warnings")
    if isinstance(warnings, list):
        # Prometheus 2.x lists PromQL's informational notes here too: they lose no data
        result.warnings = tuple(str(w) for w in warnings if not str(w).startswith("PromQL info:"))
    result.partial = body.get("isPartial") is True or body.get("partial") is True
    return result


def _timestamp(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _float(raw: str) -> float:
    # Prometheus encodes values as strings, including "NaN", "+Inf" and "-Inf".
    if not isinstance(raw, str):
        raise TypeError(f"value {raw!r} is not a string")
    return float(raw) if raw not in ("NaN",) else math.nan


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _labels(item: Any) -> dict[str, str]:
    labels: dict[str, str] = item["metric"]
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise TypeError("labels are not a mapping of strings")
    return labels


def _sample(item: Any) -> Sample:
    ts, raw = item["value"]
    return Sample(_labels(item), _float(raw), float(ts))


RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF = 0.3  # seconds before the second retry, doubling after; the first retry is at once
BACKOFF_JITTER = 0.2


def backoff(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, ...), with jitter."""
    jitter = random.uniform(0, BACKOFF_JITTER)  # noqa: S311 - spreading retries, not secrets
    return (BACKOFF * 2 ** (retry - 2) if retry > 1 else 0.0) + jitter


class PrometheusClient:
    """Instant and range queries over one pooled ``requests`` session with retries.

    ``config.timeout`` is a wall-clock deadline for each query, retries included: connecting,
    sending, and reading the headers and the whole body, however slowly the server sends them.
    Connection errors and 502/503/504 are retried with exponential backoff while the deadline
    allows; a 4xx raises ``QueryError`` carrying the server's own ``error`` message.
    """

    def __init__(self, config: PrometheusConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.base_url = config.url.rstrip("/")
        self.session = session or requests.Session()
        adapter = DeadlineAdapter(
            max_retries=0, pool_connections=1, pool_maxsize=config.max_concurrency
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"stackwatch/{__version__}"
        self.session.headers.update(config.headers)
        if config.basic_auth is not None:
            self.session.auth = (config.basic_auth.username, config.basic_auth.password.get())
        if config.bearer_token is not None:
            self.session.headers["Authorization"] = f"Bearer {config.bearer_token.get()}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _last_try(self, tries: int, pause: float, deadline: float) -> bool:
        return tries > self.config.retries or time.monotonic() + pause >= deadline

    def _post(self, url: str, params: dict[str, str], method: str = "POST") -> requests.Response:
        """The answer, read whole, of the first try that is neither a connection error nor a
        502/503/504, or else of the last try: retries stop at ``config.retries`` or when the
        next one would start past the deadline."""
        deadline = time.monotonic() + self.config.timeout
        tries = 0
        try:
            while True:
                tries += 1
                pause = backoff(tries)  # before the next try, if there is one
                try:
                    response = request_within(self.session, method, url, params, deadline)
                except requests.ConnectionError:
                    if self._last_try(tries, pause, deadline):
                        raise
                else:
                    if response.status_code not in RETRY_STATUSES or self._last_try(
                        tries, pause, deadline
                    ):
                        return response
                time.sleep(pause)
        except DeadlineExceededError:
            raise QueryTimeoutError(
                f"Prometheus at {self.base_url} did not answer within its timeout of "
                f"{self.config.timeout:g}s (prometheus.timeout)"
            ) from None

    def _call(self, endpoint: str, params: dict[str, str], method: str = "POST") -> dict[str, Any]:
        """The whole answer's body: ``data`` plus ``warnings`` and the partial flag."""
        url = f"{self.base_url}/api/v1/{endpoint}"
        try:
            response = self._post(url, params, method)
        except requests.RequestException as exc:
            raise TransientPrometheusError(
                f"Prometheus at {self.base_url} unreachable: {exc}"
            ) from exc
        try:
            body = response.json()
        except (ValueError, RecursionError):  # not JSON, or nested beyond reason
            body = None
        message = body.get("error") if isinstance(body, dict) else None
        text = _snippet(str(message) if message else response.text)
        if response.status_code >= 500:
            raise TransientPrometheusError(
                f"Prometheus at {self.base_url} answered {response.status_code}: {text}"
            )
        if response.status_code < 400 and (
            not isinstance(body, dict) or body.get("status") not in ("success", "error")
        ):
            raise self._malformed(response.status_code, "its query API's JSON", text)
        if response.status_code >= 400 or body.get("status") != "success":
            what = f"query {params['query']!r}" if "query" in params else f"/api/v1/{endpoint}"
            raise QueryError(f"{what} failed ({response.status_code}): {text}")
        if not isinstance(body.get("data"), dict):
            raise self._malformed(response.status_code, "a data object", text)
        answer: dict[str, Any] = body
        return answer

    def _malformed(self, status: int, expected: str, text: str) -> MalformedAnswerError:
        return MalformedAnswerError(
            f"Prometheus at {self.base_url} answered {status} but not with {expected}: {text} "
            "(is prometheus.url a Prometheus query API?)"
        )

    def query(self, expr: str, at: datetime | float | None = None) -> QueryResult[Sample]:
        """Evaluate an instant query; a scalar comes back as one sample with no labels."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{_timestamp(at):.3f}"
        body = self._call("query", params)
        data = body["data"]
        kind = data.get("resultType")
        if kind not in ("vector", "scalar", "matrix", "string"):
            raise self._malformed(200, "a known resultType", _snippet(repr(kind)))
        if kind not in ("vector", "scalar"):
            raise PrometheusError(f"query {expr!r} returned a {kind}, expected an instant vector")
        try:
            if kind == "vector":
                samples = [_sample(item) for item in _list(data["result"])]
            else:
                ts, raw = data["result"]
                samples = [Sample({}, _float(raw), float(ts))]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed(200, f"a well-formed {kind}", _snippet(str(exc))) from None
        return _completeness(QueryResult(samples), body)

    def query_range(
        self, expr: str, start: datetime | float, end: datetime | float, step: float
    ) -> QueryResult[Series]:
        """Evaluate a range query with ``step`` seconds between points."""
        body = self._call(
            "query_range",
            {
                "query": expr,
                "start": f"{_timestamp(start):.3f}",
                "end": f"{_timestamp(end):.3f}",
                "step": f"{step:g}",
            },
        )
        data = body["data"]
        if data.get("resultType") != "matrix":
            raise self._malformed(200, "a matrix", _snippet(repr(data.get("resultType"))))
        try:
            series = [
                Series(_labels(item), [(float(ts), _float(v)) for ts, v in _list(item["values"])])
                for item in _list(data["result"])
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed(200, "a well-formed matrix", _snippet(str(exc))) from None
        return _completeness(QueryResult(series), body)

    def status(self, name: str) -> Mapping[str, Any] | None:
        """The ``data`` of ``/api/v1/status/<name>`` (``runtimeinfo``, ``tsdb``), or None where
        the server has no such endpoint (Thanos, Mimir and VictoriaMetrics lack some)."""
        try:
            body = self._call(f"status/{name}", {}, method="GET")
        except QueryError:
            return None
        data = body.get("data")
        return data if isinstance(data, dict) else None
