"""``prometheus.timeout`` is a wall-clock deadline for the whole query, whatever the server does.

A Prometheus cannot be made to send slowly, so the slow servers here are local HTTP servers
(``TricklingServer``) that send their answer one byte at a time, each byte well within any
per-read timeout; the last test runs the same client against a real Prometheus.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from stackwatch.config import PrometheusConfig
from stackwatch.prometheus import PrometheusClient, TransientPrometheusError
from tests.support.http import TricklingServer
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within

VECTOR = json.dumps(
    {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"job": "stackwatch"}, "value": [1700000000, "1"]}],
        },
    }
).encode()


def client_for(url: str, timeout: float, retries: int = 0) -> PrometheusClient:
    return PrometheusClient(PrometheusConfig(url=url, timeout=timeout, retries=retries))


@pytest.mark.parametrize("trickle_headers", [False, True], ids=["body", "headers-and-body"])
def test_a_trickled_answer_fails_at_the_deadline(trickle_headers: bool) -> None:
    # ~150 bytes at 20 ms each: 3 s to send it all, each read answered within 20 ms
    with (
        TricklingServer(VECTOR, interval=0.02, trickle_headers=trickle_headers) as server,
        client_for(server.url, timeout=0.5) as client,
    ):
        started = time.monotonic()
        with pytest.raises(TransientPrometheusError, match=r"within its timeout of 0\.5s"):
            client.query("up")
        assert time.monotonic() - started < within(1.0)


def test_retries_fit_in_the_deadline() -> None:
    # every try answers 503 slowly; three retries with backoff would take seconds
    with (
        TricklingServer(b'{"status":"error","error":"busy"}', interval=0.01, status=503) as srv,
        client_for(srv.url, timeout=0.8, retries=3) as client,
    ):
        started = time.monotonic()
        with pytest.raises(TransientPrometheusError):
            client.query("up")
        assert time.monotonic() - started < within(1.3)


def test_a_quick_trickle_within_the_deadline_is_read_whole() -> None:
    with (
        TricklingServer(VECTOR, interval=0.001) as server,
        client_for(server.url, timeout=5) as client,
    ):
        [sample] = client.query("up")
    assert (dict(sample.labels), sample.value) == ({"job": "stackwatch"}, 1.0)


@pytest.mark.integration
def test_a_real_prometheus_still_answers(
    start_prometheus: Callable[..., PrometheusServer],
) -> None:
    prometheus = start_prometheus(["127.0.0.1:1"])
    with client_for(prometheus.url, timeout=2, retries=1) as client:
        [sample] = client.query("vector(7)")
        now = time.time()
        [series] = client.query_range("vector(1)", now - 60, now, 15)
    assert sample.value == 7.0
    assert len(series.values) >= 4
