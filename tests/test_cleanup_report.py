"""The weekly cleanup report as its reader sees it: each step says what it removed or, in one
readable line, why it failed; a dry run reads the same with "would remove"; and in Prefect a
run with a failed step ends Failed after every step ran."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import docker.errors
import pytest
import requests

from stackwatch.config import Config
from stackwatch.errors import StackwatchError
from stackwatch.format import error_line
from stackwatch.reports.cleanup import CleanupError, run_weekly_cleanup
from stackwatch.reports.elasticsearch import ElasticsearchError
from tests.support.smtp import SmtpServer

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
OLD = NOW.timestamp() - 40 * 86400
# what a reader must never see: Python's reprs, tracebacks, urllib3's story
RAW = re.compile(r"Traceback|Error\(|Exception\(|HTTPConnectionPool|Max retries|object at 0x")


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    for name in ("app.log.1", "app.log.2.gz", "worker.log.1"):
        path = folder / name
        path.write_bytes(b"x" * 1000)
        os.utime(path, (OLD, OLD))
    return folder


def _config(tmp_path: Path, logs: Path, docker_host: str | None = None) -> Config:
    docker = {"host": docker_host} if docker_host else {}
    return Config.model_validate(
        {
            "docker": docker,
            "cleanup": {
                "docker": {"enabled": docker_host is not None},
                "logs": {"dirs": [str(logs)], "retention": "30d"},
            },
            "state": {"path": str(tmp_path / "stackwatch.db")},
        }
    )


def test_error_lines_are_readable() -> None:
    try:
        requests.get("http://127.0.0.1:9/", timeout=2)
    except requests.RequestException as exc:
        refused = exc
    assert error_line(refused) == "Connection refused"
    wrapped = ElasticsearchError(f"http://127.0.0.1:9 unreachable: {refused}")
    wrapped.__cause__ = refused
    assert error_line(wrapped) == "http://127.0.0.1:9 unreachable: Connection refused"
    gone = docker.errors.DockerException(
        "Error while fetching server API version: ('Connection aborted.', "
        "FileNotFoundError(2, 'No such file or directory'))"
    )
    assert error_line(gone) == "No such file or directory"
    assert error_line(PermissionError(13, "Permission denied", "/var/log/x")) == (
        "Permission denied: /var/log/x"
    )
    busy = docker.errors.APIError("409 Client Error", explanation="a prune is already running")
    assert error_line(busy) == "a prune is already running"
    assert error_line(requests.ReadTimeout("Read timed out. (read timeout=5)")) == "timed out"
    assert error_line(KeyError("x")) == "unexpected KeyError: see the flow's log"
    assert error_line(StackwatchError("one\ntwo")) == "one"


def test_a_failed_step_says_why_in_one_line_and_the_others_still_run(
    tmp_path: Path, logs: Path
) -> None:
    socket = tmp_path / "no-docker.sock"
    report = run_weekly_cleanup(_config(tmp_path, logs, f"unix://{socket}"), now=NOW)
    docker_steps = [s for s in report.steps if s.name.startswith("Docker")]
    assert docker_steps
    assert all(not s.ok for s in docker_steps)
    assert {s.error for s in docker_steps} == {
        f"cannot connect to Docker at unix://{socket}: No such file or directory"
    }
    [log_step] = [s for s in report.steps if s.name == "Old log files"]
    assert log_step.ok
    assert len(log_step.removed) == 3
    assert not any(logs.iterdir())
    assert "Removed 3 (2.9 KiB): " in report.text
    for part in (report.text, report.html, report.markdown):
        assert not RAW.search(part)
    assert "Free before" in report.text
    with pytest.raises(CleanupError) as info:
        report.raise_for_failed_steps()
    assert str(info.value).startswith(f"{len(docker_steps)} of {len(report.steps)} cleanup steps")


def test_a_dry_run_reads_the_same_with_would_remove(tmp_path: Path, logs: Path) -> None:
    dry = run_weekly_cleanup(_config(tmp_path, logs), dry_run=True, now=NOW)
    assert len(list(logs.iterdir())) == 3
    assert "Would remove 3 (2.9 KiB): " in dry.text
    assert "Would remove 3 (2.9 KiB): " in dry.html
    assert "<th" in dry.html
    # free space: only now, not a meaningless before and after
    assert "Free before" not in dry.html
    assert "Free after" not in dry.text
    assert "A dry run removes nothing: the free space now." in dry.text
    dry.raise_for_failed_steps()  # nothing failed


# --- in Prefect ---------------------------------------------------------------------------


@pytest.fixture
def prefect(prefect_api: str, own_flow_runs: None) -> str:
    return prefect_api


@pytest.mark.integration
def test_a_failed_step_ends_the_flow_run_failed_after_every_step_ran(
    tmp_path: Path, logs: Path, smtp_server: SmtpServer, prefect: str
) -> None:
    from flows.report_flows import weekly_cleanup_report
    from tests.support.prefect import artifacts_of

    socket = tmp_path / "no-docker.sock"
    config = tmp_path / "stackwatch.yml"
    config.write_text(
        f"""
docker: {{host: "unix://{socket}"}}
cleanup:
  docker: {{enabled: true}}
  logs: {{dirs: ["{logs}"], retention: 30d}}
smtp: {{host: 127.0.0.1, port: {smtp_server.port}, tls: none, from: stackwatch@example.org,
        to: [ops@example.org]}}
state: {{path: "{tmp_path / "stackwatch.db"}"}}
"""
    )
    state = weekly_cleanup_report(config_path=str(config), return_state=True)
    assert state.is_failed(), state
    assert (
        "4 of 8 cleanup steps failed: Docker: stopped containers, Docker: dangling images, "
        "Docker: unused networks, Docker: build cache (cannot connect to Docker at "
    ) in (state.message or "")
    assert not any(logs.iterdir())  # the step after the failed ones ran
    subjects = [str(m["Subject"]).strip() for m in smtp_server.messages]
    report = next(s for s in subjects if s.startswith("[stackwatch] Weekly cleanup "))
    assert report.endswith("step(s) failed")
    assert any(
        s.startswith("[FAILED] weekly-cleanup-report: 4 of 8 cleanup steps failed: Docker:")
        for s in subjects
    )
    assert "cannot connect to Docker" in artifacts_of(state)["weekly-cleanup-report"]


def test_the_dry_run_command_writes_the_html(
    tmp_path: Path, logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackwatch.cli import main

    config = tmp_path / "stackwatch.yml"
    config.write_text(
        f"cleanup:\n  docker: {{enabled: false}}\n  logs: {{dirs: ['{logs}'], retention: 30d}}\n"
        f"state: {{path: '{tmp_path / 'stackwatch.db'}'}}\n"
    )
    output = tmp_path / "cleanup.html"
    assert main(["cleanup", "weekly", "--dry-run", "-c", str(config), "--output", str(output)]) == 0
    assert f"HTML written to {output}" in capsys.readouterr().out
    html = output.read_text()
    assert "Weekly cleanup (dry run: nothing removed)" in html
    assert "Would remove 3 (2.9 KiB): " in html
    assert len(list(logs.iterdir())) == 3
