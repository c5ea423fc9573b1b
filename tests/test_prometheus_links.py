"""Every Prometheus link stackwatch mails or prints answers on the Prometheus installed here.

Debian's Prometheus 2.42 serves only its classic UI: ``/targets``, ``/alerts`` and ``/rules``
are 404 there (they live under ``/classic/``), while ``/graph`` redirects to the UI it has.
Each link is fetched from a real ``/usr/bin/prometheus``, following redirects as a browser does.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from alerter.model import BLIND_ALERT, FIRING, AlertState
from alerter.notify import MailRenderer
from flows.launcher_banner import prometheus_links
from stackwatch.config import Config
from tests.support.prometheus import PrometheusServer


def alert(name: str, expr: str) -> AlertState:
    return AlertState(
        fingerprint=name,
        group="system-health-check",
        alertname=name,
        labels={"alertname": name},
        annotations={},
        state=FIRING,
        value=1.0,
        active_since=0.0,
        expr=expr,
    )


@pytest.fixture
def prometheus(start_prometheus: Callable[..., PrometheusServer]) -> PrometheusServer:
    return start_prometheus(["127.0.0.1:9"])


@pytest.mark.integration
def test_every_link_an_alert_mail_carries_answers(prometheus: PrometheusServer) -> None:
    config = Config.model_validate({"prometheus": {"url": prometheus.url}})
    renderer = MailRenderer(config)
    links = {
        **renderer.links(alert(BLIND_ALERT, "")),
        **renderer.links(alert("HighCpu", 'rate(node_cpu_seconds_total{mode!="idle"}[5m]) > 0.8')),
    }
    assert set(links) == {"Prometheus targets", "Prometheus graph"}
    for title, url in links.items():
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, (title, url, response.status_code)


@pytest.mark.integration
def test_every_prometheus_link_the_launcher_prints_answers(prometheus: PrometheusServer) -> None:
    links = prometheus_links(prometheus.url)
    assert set(links) == {"Prometheus", "Targets", "Alerts", "Rules"}
    for label, url in links.items():
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, (label, url, response.status_code)
