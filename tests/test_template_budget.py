"""The templates of one evaluation share a time budget: many slow annotations cannot hold the
evaluation, and the alert database it has locked, for one second each. The slow ones are marked
as failed; the group's other alerts render and mail as usual. Against a real Prometheus."""

from __future__ import annotations

import email
import email.policy
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from alerter import template_limits
from alerter.templating import render
from stackwatch.cli import main
from tests.support.prometheus import PrometheusServer
from tests.support.scraped import MetricsEndpoint, cli_config, settle
from tests.support.timing import within

# a backtracking pattern the regex engine gives up on at the template's deadline (1 s)
SLOW = '{{ if match "(a|aa)+$" "' + "a" * 40 + '!" }}matched{{ end }}'
SLOW_ANNOTATIONS = 20


def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "slow.yml"
    slow = "".join(f"          slow{i}: '{SLOW}'\n" for i in range(SLOW_ANNOTATIONS))
    path.write_text(
        "groups:\n"
        "  - name: slow-test\n"
        "    rules:\n"
        "      - alert: SlowText\n"
        "        expr: test_disk_ratio > 0.9\n"
        "        annotations:\n" + slow + "      - alert: QuickText\n"
        "        expr: test_disk_ratio > 0.9\n"
        "        annotations:\n"
        "          summary: 'disk of {{ $labels.host }} is {{ $value | humanizePercentage }}'\n"
    )
    return path


def mails(folder: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]


@pytest.mark.integration
def test_slow_templates_share_one_budget_and_the_alerts_still_mail(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(template_limits, "EVALUATION_SECONDS", 2.0)
    config = cli_config(tmp_path, prometheus, rule_file(tmp_path))
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")

    started = time.monotonic()
    assert main(["alerts", "evaluate", "--group", "slow-test", *config]) == 0
    # 20 slow annotations of 1 s each would take 20 s; the evaluation's budget is 2 s
    assert time.monotonic() - started < within(4.0)
    out = capsys.readouterr().out
    assert "sent: [FIRING:2] slow-test: QuickText, SlowText" in out
    [mail] = mails(tmp_path / "outbox")
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    body = str(text.get_content())
    assert "disk of nas is 97%" in body
    assert "<error expanding template: rendering took longer than 1s>" in body
    assert "<error expanding template: the templates of this evaluation took longer than 2s" in body
    endpoint.lines.clear()


def test_a_template_renders_within_its_own_bound_outside_an_evaluation() -> None:
    started = time.monotonic()
    assert render(SLOW, {}, 1.0).startswith(
        "<error expanding template: rendering took longer than 1s>"
    )
    assert time.monotonic() - started < within(2.0)


def test_past_the_budget_a_quick_template_still_renders() -> None:
    with template_limits.evaluation_budget(0.0):
        assert render("{{ $labels.host }} is {{ $value }}", {"host": "nas"}, 3.0) == "nas is 3"
        started = time.monotonic()
        assert render(SLOW, {}, 1.0).startswith(
            "<error expanding template: the templates of this evaluation took longer than 0s"
        )
        assert time.monotonic() - started < within(0.5)
