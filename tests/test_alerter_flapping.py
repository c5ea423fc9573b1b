"""Flapping, end to end: a real Prometheus scrapes a /metrics endpoint whose value the test flips
around a rule's threshold between evaluations, run_check evaluates each time, and mail goes to a
real SMTP server (aiosmtpd)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerter.check import run_check
from stackwatch.config import Config
from tests.support.procs import wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.scraped import MetricsEndpoint, mail_parts, settle
from tests.support.smtp import SmtpServer
from tests.support.timing import within

pytestmark = pytest.mark.integration

RULES = Path(__file__).parent / "fixtures" / "rules" / "flapping.yml"
GROUP = "flapping-test"
SERIES = 'test_queue_depth{queue="jobs"}'
HIGH = "test_queue_depth > 10"


def _config(url: str, smtp: SmtpServer, state: Path, **flapping: Any) -> Config:
    data: dict[str, Any] = {
        "prometheus": {"url": url, "retries": 0, "timeout": "5s"},
        "smtp": {"host": smtp.host, "port": smtp.port, "tls": "none", "to": "ops@stackwatch.test"},
        "rules": {"paths": [str(RULES)], "flapping": flapping},
        "state": {"path": str(state)},
    }
    return Config.model_validate(data)


def _flip(endpoint: MetricsEndpoint, prometheus: PrometheusServer, high: bool) -> None:
    endpoint.set(SERIES, 50 if high else 1)
    settle(prometheus, HIGH, present=high)


def _subjects(smtp: SmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in smtp.messages]


def test_a_flapping_value_mails_once_as_flapping_then_once_when_it_settles(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    """Six flips: the first four changes mail as usual, the fifth (more than 4 within the
    window) mails [FLAPPING] instead, the sixth (to not firing) mails nothing: no RESOLVED
    while it flaps. Once it has held still for the settle period, one RESOLVED."""
    config = _config(
        prometheus.url, smtp_server, tmp_path / "state.db", changes=4, window="1h", settle="2s"
    )
    for flip in range(6):
        _flip(endpoint, prometheus, high=flip % 2 == 0)
        run_check(config, GROUP)
    assert _subjects(smtp_server) == [
        f"[FIRING:1] {GROUP}: QueueDeep",
        f"[RESOLVED] {GROUP}: QueueDeep",
        f"[FIRING:1] {GROUP}: QueueDeep",
        f"[RESOLVED] {GROUP}: QueueDeep",
        f"[FLAPPING] {GROUP}: QueueDeep",
    ]
    text, html = mail_parts(smtp_server.messages[-1])
    assert "changed state 5 times within 1h" in text
    assert "Now: firing" in text
    assert "queue: jobs" in text
    assert "until it has not changed for 2s" in text
    assert "changed state 5 times within 1h" in html

    # the value now stays low (the last flip): quiet until it settles, then one RESOLVED
    def settled() -> bool:
        run_check(config, GROUP)
        return len(smtp_server.messages) > 5

    wait_for(settled, within(20), "the settle mail", interval=0.5)
    assert _subjects(smtp_server)[5:] == [f"[RESOLVED] {GROUP}: QueueDeep"]
    # settled: it is an ordinary alert again, mailed at once when it fires
    _flip(endpoint, prometheus, high=True)
    run_check(config, GROUP)
    assert _subjects(smtp_server)[6:] == [f"[FIRING:1] {GROUP}: QueueDeep"]


def test_a_flap_that_settles_in_the_state_it_was_mailed_in_mails_nothing_more(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    """Flapping found while firing, settled while firing: the [FLAPPING] mail said so already."""
    config = _config(
        prometheus.url, smtp_server, tmp_path / "state.db", changes=2, window="1h", settle="2s"
    )
    for flip in range(3):
        _flip(endpoint, prometheus, high=flip % 2 == 0)
        run_check(config, GROUP)
    assert _subjects(smtp_server) == [
        f"[FIRING:1] {GROUP}: QueueDeep",
        f"[RESOLVED] {GROUP}: QueueDeep",
        f"[FLAPPING] {GROUP}: QueueDeep",
    ]
    start = len(smtp_server.messages)

    def firing_after_settle() -> bool:
        result = run_check(config, GROUP)
        return [(a.state, a.flapping) for a in result.alerts] == [("firing", False)]

    wait_for(firing_after_settle, within(20), "the flap to settle", interval=0.5)
    assert len(smtp_server.messages) == start
    # still firing, mailed again only after repeat_interval (4h by default): nothing now
    run_check(config, GROUP)
    assert len(smtp_server.messages) == start
