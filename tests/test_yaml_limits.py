"""Hostile YAML in config and rule files: alias bombs, deep nesting, binary and huge files.

Each is refused fast with one line naming the file (and line where there is one), never a
traceback or a process eating memory, by ``config check``, ``rules check`` and the evaluation,
where the other rule files still evaluate.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from stackwatch.cli import main
from tests.support.prometheus import PrometheusServer
from tests.support.scraped import RULES, MetricsEndpoint, cli_config, settle
from tests.support.timing import within

# the documented limits (docs/configuration.md, docs/alerts.md)
MAX_ALIASED = 100_000
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100


def _bomb() -> bytes:
    # "billion laughs": nine levels of nine aliases each, 9**9 strings once expanded
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return ("\n".join(lines) + "\ngroups: []\n").encode()


def _deep_aliases() -> bytes:
    # ten anchors 60 levels deep, each holding the one before: 600 levels once expanded
    lines = ["a0: &a0 " + "[" * 60 + "x" + "]" * 60]
    lines += [f"a{i}: &a{i} " + "[" * 60 + f"*a{i - 1}" + "]" * 60 for i in range(1, 10)]
    return ("\n".join(lines) + "\n").encode()


def _deep_block() -> bytes:
    return "".join("  " * i + "a:\n" for i in range(MAX_DEPTH + 50)).encode()


# name: (content, the expected line after "FILE")
CASES: dict[str, tuple[bytes, str]] = {
    "alias-bomb": (
        _bomb(),
        rf":\d+: invalid YAML: aliases expand to more than {MAX_ALIASED} values",
    ),
    "alias-deep": (
        _deep_aliases(),
        rf":2: invalid YAML: nested deeper than {MAX_DEPTH} levels once aliases are expanded",
    ),
    "alias-in-itself": (b"groups: &g [*g]\n", r":1: invalid YAML: alias \*g is inside its anchor"),
    "deep-flow": (b"[" * 100_000, rf":1: invalid YAML: nested deeper than {MAX_DEPTH} levels"),
    "deep-block": (_deep_block(), rf":\d+: invalid YAML: nested deeper than {MAX_DEPTH} levels"),
    "binary": (bytes(range(256)) * 40, r":2: not UTF-8 text \(byte 0x80 in column 118\)"),
    "nul": (
        b"groups: []\n\x00\x01\x02\n",
        r":2: invalid YAML: unacceptable character #x0000 in column 1",
    ),
    "huge": (
        b"# padding\n" * (MAX_BYTES // 10 + 1),
        r": larger than 4 MiB",
    ),
}


@pytest.fixture(params=sorted(CASES))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    content, expected = CASES[request.param]
    path = tmp_path / f"{request.param}.yml"
    path.write_bytes(content)
    return path, "^" + re.escape(str(path)) + expected + "$"


def test_rules_check_refuses_it_in_one_line(
    hostile: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, expected = hostile
    started = time.monotonic()
    assert main(["rules", "check", str(path)]) == 1
    assert time.monotonic() - started < within(3.0)
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 1, captured.out
    assert re.match(expected, lines[0]), lines[0]
    assert captured.err.splitlines() == [
        "stackwatch: 1 problem(s) in 1 file(s), 0 group(s), 0 rule(s)"
    ]


def test_config_check_refuses_it_in_one_line(
    hostile: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, expected = hostile
    started = time.monotonic()
    assert main(["config", "check", "-c", str(path)]) == 2
    assert time.monotonic() - started < within(3.0)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    if path.name == "huge.yml":  # never read, so no problem list: one line
        assert lines == [f"stackwatch: {path}: cannot read config: larger than 1 MiB"]
    else:
        assert lines[1:] == ["1 problem(s) found"], captured.err
        assert re.match(expected, lines[0]), lines[0]
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.integration
def test_evaluate_goes_on_past_an_alias_bomb(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bomb = tmp_path / "bomb.yml"
    bomb.write_bytes(_bomb())
    deep = tmp_path / "deep.yml"
    deep.write_bytes(b"[" * 100_000)
    config = cli_config(tmp_path, prometheus, bomb, deep, RULES)
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")

    started = time.monotonic()
    assert main(["alerts", "evaluate", *config]) == 1  # the bad files are errors, not crashes
    assert time.monotonic() - started < within(10.0)
    out = capsys.readouterr().out
    assert re.search(rf"error: {re.escape(str(bomb))}:\d+: invalid YAML: aliases expand", out)
    assert f"error: {deep}:1: invalid YAML: nested deeper than {MAX_DEPTH} levels" in out
    # the files name no group, so every group is blind (MonitoringBlind) but still evaluates
    assert re.search(r"\nDiskAlmostFull +firing +host=nas", out)
    assert "sent: [FIRING:2] outage-test: DiskAlmostFull, MonitoringBlind" in out
    endpoint.lines.clear()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", ["rules", "config"])
def test_a_named_pipe_is_refused_not_waited_on(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pipe.yml"
    os.mkfifo(path)  # nothing ever writes to it: reading it would wait forever
    argv = (
        ["rules", "check", str(path)]
        if command == "rules"
        else ["config", "check", "-c", str(path)]
    )
    started = time.monotonic()
    assert main(argv) == (1 if command == "rules" else 2)
    assert time.monotonic() - started < within(3.0)
    captured = capsys.readouterr()
    expected = (
        f"{path}: a named pipe, not a regular file"
        if command == "rules"
        else f"stackwatch: {path}: cannot read config: a named pipe, not a regular file"
    )
    assert expected in (captured.out + captured.err).splitlines()
