"""Hostile input end to end: a rule file of invalid bytes beside good ones, and labels holding
terminal escape codes, through the real commands against a real Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.cli import main
from tests.support.prometheus import PrometheusServer
from tests.support.scraped import RULES, MetricsEndpoint, cli_config, settle

pytestmark = pytest.mark.integration

ESC = "\x1b"
RAW = {ESC, "\x07", "\x9b"}  # ESC, BEL and the C1 CSI: none may reach the terminal


def test_evaluate_goes_on_past_a_rule_file_that_is_not_utf8(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "x.yml"
    bad.write_bytes(b"groups:\n  - name: latin1-group\n    rules:\n      - alert: Caf\xe9Down\n")
    config = cli_config(tmp_path, prometheus, bad, RULES)
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")

    assert main(["alerts", "evaluate", *config]) == 1  # the bad file is an error, not a crash
    out = capsys.readouterr().out
    assert out.count(f"error: {bad}:4: not UTF-8 text (byte 0xe9 in column 19)") == 1
    assert "== outage-test\n" in out
    assert "DiskAlmostFull  firing" in out
    assert "sent: [FIRING:1] outage-test: DiskAlmostFull" in out
    assert "== latin1-group (BLIND" in out  # the group the file names cannot resolve anything
    endpoint.lines.clear()


def test_escape_codes_in_labels_never_reach_the_terminal(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = cli_config(tmp_path, prometheus, RULES)
    # the exposition format carries the raw ESC byte in a label value; Prometheus keeps it
    endpoint.set(f'test_cpu_ratio{{host="red{ESC}[31m",note="{ESC}]0;owned\x07\x9b2J"}}', 0.99)
    settle(prometheus, 'test_cpu_ratio{host=~"red.*"} > 0.9')

    assert main(["alerts", "evaluate", *config, "--group", "threshold-test"]) == 0
    out = capsys.readouterr().out
    assert "host=red\\x1b[31m" in out
    assert "note=\\x1b]0;owned\\x07\\x9b2J" in out
    assert "CPU usage on red\\x1b[31m is 99%" in out
    assert not RAW & set(out)

    assert main(["alerts", "list", *config]) == 0
    out = capsys.readouterr().out
    assert "host=red\\x1b[31m" in out
    assert not RAW & set(out)

    matcher = f"host=red{ESC}[31m"
    assert (
        main(["silence", "add", *config, "-m", matcher, "--for", "1h", "--comment", "x\x1b[2J"])
        == 0
    )
    assert ESC not in capsys.readouterr().out
    assert main(["silence", "list", *config]) == 0
    out = capsys.readouterr().out
    assert "red\\x1b[31m" in out
    assert "x\\x1b[2J" in out
    assert not RAW & set(out)
    endpoint.lines.clear()
