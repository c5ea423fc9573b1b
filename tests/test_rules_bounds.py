"""Rules Prometheus refuses to load are problems of ``rules check``: template syntax errors such
as an unclosed ``{{``, and ``for``/``keep_firing_for`` values out of range. The evaluation
renders a broken template as its raw text with a warning, never a traceback."""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

import pytest

from alerter.templating import render
from stackwatch.cli import main
from tests.support.procs import require_binary
from tests.support.prometheus import PrometheusServer
from tests.support.scraped import MetricsEndpoint, cli_config, settle

RULE = """groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
        {field}: {value}
        annotations:
          summary: {summary}
"""


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    path = tmp_path / "x.yml"
    path.write_text(text)
    assert main(["rules", "check", str(path)]) == 1
    return [line.removeprefix(f"{path}:") for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        ('"{{ $labels.instance"', "unclosed action"),
        ('"down {{ $labels.instance }} since {{ $value"', "unclosed action"),
        ('"{{/* a comment"', "unclosed comment"),
        ('"{{/* a comment */ x }}"', "comment ends before closing delimiter"),
        ('"{{ }}"', "missing value for command"),
        ('"{{ if }}x{{ end }}"', "missing value for if"),
        ('"{{ if true }}x{{ else if }}y{{ end }}"', "missing value for if"),
    ],
)
def test_a_template_syntax_error_is_a_problem(
    summary: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = RULE.format(field="for", value="5m", summary=summary)
    assert check(tmp_path, capsys, text) == [f"8: A: annotation 'summary': template: {message}"]


@pytest.mark.integration
def test_promtool_refuses_an_unclosed_action_too(tmp_path: Path) -> None:
    promtool = require_binary("promtool", "prometheus")
    path = tmp_path / "x.yml"
    path.write_text(RULE.format(field="for", value="5m", summary='"{{ $labels.instance"'))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert 'annotation "summary": template: __alert_A:1: unclosed action' in result.stderr


def test_the_evaluation_renders_a_broken_template_as_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="alerter.templating"):
        text = render("down: {{ $labels.instance", {"instance": "a"}, 1.0)
    assert text == "<error expanding template: unclosed action> down: {{ $labels.instance"
    assert "unclosed action" in caplog.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("for", "99999999y", "99999999y is out of range: use at most 30d"),
        ("for", "31d", "31d is out of range: use at most 30d"),
        ("for", "9" * 400 + "y", f"duration '{'9' * 20}'… is too long"),
        ("keep_firing_for", "300y", "300y is out of range: use at most 30d"),
    ],
)
def test_an_absurd_duration_is_out_of_range(
    field: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = RULE.format(field=field, value=value, summary="down")
    assert check(tmp_path, capsys, text) == [f"6: A: {field}: {message}"]


@pytest.mark.parametrize("field", ["for", "keep_firing_for"])
def test_thirty_days_is_allowed(
    field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.yml"
    path.write_text(RULE.format(field=field, value="30d", summary="down"))
    assert main(["rules", "check", str(path)]) == 0


@pytest.mark.integration
def test_a_rule_with_a_broken_annotation_still_fires_with_its_text(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The problem is reported (and the group is blind), but a typo in a summary silences no
    alert: the annotation renders as its raw text, with a warning."""
    rules = tmp_path / "typo.yml"
    rules.write_text(
        "groups:\n"
        "  - name: typo-test\n"
        "    rules:\n"
        "      - alert: DiskTypo\n"
        "        expr: test_disk_ratio > 0.9\n"
        "        annotations:\n"
        "          summary: 'disk of {{ $labels.host is full'\n"
    )
    config = cli_config(tmp_path, prometheus, rules)
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")
    with caplog.at_level(logging.WARNING, logger="alerter.templating"):
        assert main(["alerts", "evaluate", *config]) == 1
    out = capsys.readouterr().out
    assert f"error: {rules}:7: DiskTypo: annotation 'summary': template: unclosed action" in out
    assert re.search(r"\nDiskTypo +firing +host=nas.*<error expanding template: unclosed act", out)
    assert "sent: [FIRING:2] typo-test: DiskTypo, MonitoringBlind" in out
    assert "unclosed action" in caplog.text
    endpoint.lines.clear()
