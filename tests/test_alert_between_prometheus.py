"""Stackwatch's evaluation against Prometheus's own rule engine, on the same rule and data.

A real Prometheus loads the rule file (``evaluation_interval: 1s``) and scrapes a /metrics
endpoint whose value follows a script of episodes: shorter than ``for``, just longer, entirely
between two stackwatch evaluations, spanning one, and flapping. Stackwatch evaluates the group
every dozen seconds; the firing episodes it records must be those of
``ALERTS{alertstate="firing"}``, each start and end within two steps.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from alerter.check import run_check
from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.prometheus import PrometheusClient
from tests.support.http import PROMETHEUS_TEXT, LocalServer
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

STEP = 1.0
TOLERANCE = 2 * STEP
FOR = 3.0
# when the value is high, in seconds after the first evaluation
SCRIPT = (
    (1.0, 3.0),  # shorter than for: pending only
    (4.0, 9.0),  # just longer, entirely between the evaluations at 0 and 11
    (12.0, 23.0),  # firing at the evaluation at 17, resolved before the one at 38
    (24.0, 29.0),  # flapping: two episodes between the evaluations at 17 and 38
    (31.0, 36.0),
)
EVALUATIONS = (0.0, 11.0, 17.0, 38.0)


class ScriptedValue:
    """``/metrics`` with ``between_value``: 100 within the script's episodes, else 0."""

    def __init__(self) -> None:
        self.t0 = time.time() + 3600  # not started: low
        self.server = LocalServer(self._answer, content_type=PROMETHEUS_TEXT)

    def value(self) -> float:
        t = time.time() - self.t0
        return 100.0 if any(a <= t < b for a, b in SCRIPT) else 0.0

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        return 200, f"between_value {self.value()}\n".encode()


def runs(values: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Runs of consecutive steps: (first step, the step after the last)."""
    out: list[tuple[float, float]] = []
    for ts, _ in sorted(values):
        if out and ts - out[-1][1] <= STEP * 0.5:
            out[-1] = (out[-1][0], ts + STEP)
        else:
            out.append((ts, ts + STEP))
    return out


def mails(outbox: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(p.read_bytes(), _class=EmailMessage, policy=default)
        for p in sorted(outbox.iterdir())
    ]


def subjects(outbox: Path) -> list[str]:
    return sorted(str(m["Subject"]) for m in mails(outbox))


def test_episodes_match_prometheus_rule_engine(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rule = {"alert": "BetweenHigh", "expr": "between_value > 50", "for": f"{FOR:g}s"}
    rule["labels"] = {"severity": "warning"}
    rule["annotations"] = {"summary": "value {{ $value }}"}
    rules.write_text(yaml.safe_dump({"groups": [{"name": "between", "rules": [rule]}]}))
    metrics = ScriptedValue()
    (tmp_path / "prometheus").mkdir()
    with metrics.server:
        prometheus = PrometheusServer(
            tmp_path / "prometheus",
            [metrics.server.url.removeprefix("http://")],
            rule_files=[str(rules)],
        ).start()
        try:
            prometheus.wait_for_series('up{job="stackwatch"} == 1')
            config = Config.model_validate(
                {
                    "prometheus": {"url": prometheus.url, "retries": 0},
                    "smtp": {"outbox_dir": str(tmp_path / "outbox"), "to": "ops@example.org"},
                    "rules": {
                        "paths": [str(rules)],
                        "between_runs": {"resolution": f"{STEP:g}s"},
                        "flapping": {"enabled": False},
                    },
                    "state": {"path": str(tmp_path / "state.db")},
                }
            )
            metrics.t0 = time.time() + 1
            results = []
            for offset in EVALUATIONS:
                time.sleep(max(0.0, metrics.t0 + offset - time.time()))
                result = run_check(config, "between")
                assert not result.errors, result.errors
                results.append(result)
            # each evaluation names the episodes it found between checks
            assert [len(r.between) for r in results] == [0, 1, 0, 2]
            assert results[1].between[0].startswith("BetweenHigh {instance=")
            assert ", peak 100" in results[1].between[0]
            # the last evaluation shows the alert that ended since the one before as resolved
            assert [(a.alertname, a.state) for a in result.alerts] == [("BetweenHigh", "resolved")]
            end = time.time()
            with PrometheusClient(config.prometheus) as client:
                answer = client.query_range(
                    'ALERTS{alertname="BetweenHigh", alertstate="firing"}',
                    metrics.t0 - 5,
                    end,
                    STEP,
                )
        finally:
            prometheus.stop()

    [series] = answer
    expected = runs(list(series.values))
    with AlertStore(config.state.path) as store:
        history = store.history(datetime.fromtimestamp(metrics.t0 - 5, tz=UTC))
    recorded = [
        (r.fired_at.timestamp(), r.resolved_at.timestamp())
        for r in history
        if r.fired_at is not None and r.resolved_at is not None
    ]
    relative = [(round(a - metrics.t0, 1), round(b - metrics.t0, 1)) for a, b in recorded]
    wanted = [(round(a - metrics.t0, 1), round(b - metrics.t0, 1)) for a, b in expected]
    assert len(recorded) == len(expected) == 4, (relative, wanted)
    for (fired, resolved), (start, stop) in zip(recorded, expected, strict=True):
        assert abs(fired - start) <= TOLERANCE, (relative, wanted)
        assert abs(resolved - stop) <= TOLERANCE, (relative, wanted)
    assert [r.between_checks for r in history] == [True, False, True, True]
    between = [m for m in mails(tmp_path / "outbox") if "BETWEEN" in str(m["Subject"])]
    text = between[0].get_body(("plain",))
    assert text is not None
    assert "fired and resolved again" in text.get_content()
    assert subjects(tmp_path / "outbox") == [
        "[BETWEEN CHECKS:1] between: BetweenHigh (fired and resolved)",
        "[BETWEEN CHECKS:2] between: BetweenHigh (fired and resolved)",
        "[FIRING:1] between: BetweenHigh",
        "[RESOLVED] between: BetweenHigh",
    ]
