"""A Prometheus answering 200 with something that is not its query API's JSON: one clear line.

No real Prometheus answers like this (a proxy's login page, a truncated answer, another service
on the port does), so a local HTTP server stands in and answers every query with ``body``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.cli import main
from stackwatch.config import PrometheusConfig
from stackwatch.prometheus import PrometheusClient, TransientPrometheusError
from tests.support.http import TricklingServer

RULES = Path(__file__).parent / "fixtures" / "rules" / "alerting.yml"

MALFORMED = {
    "not json": b"<html><body>Please log in\n</body></html>",
    "truncated json": b'{"status":"success","data":{"resultType":"vector","result":[{"metr',
    "a list": b"[1, 2, 3]",
    "a string": b'"success"',
    "no data": b'{"status":"success"}',
    "data a list": b'{"status":"success","data":[]}',
    "no result": b'{"status":"success","data":{"resultType":"vector"}}',
    "result not a list": b'{"status":"success","data":{"resultType":"vector","result":7}}',
    "sample without value": b'{"status":"success","data":{"resultType":"vector",'
    b'"result":[{"metric":{}}]}}',
    "value not a number": b'{"status":"success","data":{"resultType":"vector",'
    b'"result":[{"metric":{},"value":[1, "many"]}]}}',
    "labels not a mapping": b'{"status":"success","data":{"resultType":"vector",'
    b'"result":[{"metric":"x","value":[1, "1"]}]}}',
    "scalar not a pair": b'{"status":"success","data":{"resultType":"scalar","result":5}}',
    "matrix without values": b'{"status":"success","data":{"resultType":"matrix",'
    b'"result":[{"metric":{}}]}}',
    "matrix point not a pair": b'{"status":"success","data":{"resultType":"matrix",'
    b'"result":[{"metric":{},"values":[[1]]}]}}',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_is_one_clear_error(body: bytes) -> None:
    with TricklingServer(body, interval=0) as server:
        client = PrometheusClient(PrometheusConfig(url=server.url, retries=0))
        ask = (
            (lambda: client.query_range("up", 0, 60, 15))
            if b'"matrix"' in body
            else (lambda: client.query("up"))
        )
        with pytest.raises(TransientPrometheusError) as caught:
            ask()
    message = str(caught.value)
    assert message.startswith(f"Prometheus at {server.url} answered 200 but not with ")
    assert "\n" not in message


CLI_CASES = ["not json", "a string", "no result", "value not a number", "labels not a mapping"]


@pytest.mark.parametrize("body", [MALFORMED[c] for c in CLI_CASES], ids=CLI_CASES)
def test_alerts_evaluate_on_a_malformed_answer_prints_one_line(
    tmp_path: Path, body: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    with TricklingServer(body, interval=0) as server:
        config = tmp_path / "stackwatch.yml"
        config.write_text(
            f"prometheus: {{url: '{server.url}', retries: 0}}\n"
            f"rules: {{paths: ['{RULES}']}}\nstate: {{path: state.db}}\n"
            f"smtp: {{outbox_dir: outbox}}\n"
        )
        code = main(["alerts", "evaluate", "--config", str(config), "--group", "threshold-test"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"stackwatch: Prometheus at {server.url} answered 200 but not with ")
    assert err.count("\n") == 1
