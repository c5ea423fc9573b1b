"""Links in alert mail: only ``http``/``https`` URLs become links, whatever a label or an
annotation says; anything else is shown as text. Checked on the rendered HTML."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from alerter.evaluate import evaluate_rule, window_for
from alerter.notify import MailRenderer, Notification
from alerter.rules import Rule
from stackwatch.config import Config
from stackwatch.prometheus import Series

NOW = 1_800_000_000.0
RULE = Rule(
    alert="HostDown",
    expr="test_up == 0",
    group="g",
    annotations={
        "summary": "{{ $labels.host }} is down",
        "runbook_url": "{{ $labels.runbook }}",
        "dashboard_url": "{{ $labels.dashboard }}",
    },
)


class Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value or "" for name, value in attrs if name == "href"]


def mail_for(runbook: str, dashboard: str) -> tuple[str, list[str], str]:
    labels = {"__name__": "test_up", "host": "web-1", "runbook": runbook, "dashboard": dashboard}
    [alert] = evaluate_rule(RULE, [Series(labels, [(NOW, 0.0)])], [], NOW, window_for(RULE, NOW))
    config = Config.model_validate({"links": {"grafana_url": "https://grafana.example.org"}})
    text, html = MailRenderer(config).render(Notification("g", (alert,), ()), NOW)
    parser = Hrefs()
    parser.feed(html)
    return html, parser.hrefs, text


@pytest.mark.parametrize(
    ("runbook", "dashboard"),
    [
        ("javascript:alert(document.cookie)", "data:text/html;base64,PHNjcmlwdD4="),
        ("JavaScript:alert(1)", "vbscript:msgbox(1)"),
        (" javascript:alert(1)", "java\tscript:alert(1)"),  # browsers skip blanks and tabs
        ("file:///etc/passwd", "//evil.example.org/d"),
    ],
)
def test_only_http_urls_from_labels_become_links(runbook: str, dashboard: str) -> None:
    html, hrefs, text = mail_for(runbook, dashboard)
    assert hrefs, "the Prometheus graph link is still there"
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert "Runbook</a>" not in html
    if dashboard.startswith("//"):  # a path under links.grafana_url stays an https link
        assert "https://grafana.example.org/evil.example.org/d" in hrefs
    else:
        assert "Grafana dashboard</a>" not in html
    assert f"runbook_url: {runbook}" in text  # shown, as text


def test_http_and_https_urls_from_labels_are_links() -> None:
    html, hrefs, _ = mail_for("https://runbooks.example.org/host-down", "d/abc/hosts")
    assert "https://runbooks.example.org/host-down" in hrefs
    assert "https://grafana.example.org/d/abc/hosts" in hrefs
    assert "Runbook</a>" in html
    _, hrefs, _ = mail_for("http://wiki/host-down", "d/abc?var-instance=web-1:9100")
    assert "https://grafana.example.org/d/abc?var-instance=web-1:9100" in hrefs
    assert "http://wiki/host-down" in hrefs
