"""What the tools write stays out of git: run from a checkout, they leave ``git status`` clean.

A copy of the checkout (its tracked files and the new ones not ignored) becomes a git repository
of its own; the commands a user runs there (config and rule checks, the dry runs of the daily
report, the cleanup and the alert evaluation, the alert list, ruff and a pytest run) must write
only under ``state/`` or other paths that ``.gitignore`` covers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.procs import free_port

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def checkout_copy(dest: Path) -> Path:
    files = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    names = [name for name in files.split("\0") if name and (REPO / name).is_file()]
    dest.mkdir()
    archive = subprocess.run(
        ["tar", "-c", "-C", str(REPO), "--null", "-T", "-"],
        input="\0".join(names).encode(),
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=120)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "copy")
    return dest


def test_the_tools_write_only_what_gitignore_covers(tmp_path: Path) -> None:
    repo = checkout_copy(tmp_path / "checkout")
    assert git(repo, "status", "--porcelain") == ""
    env = {
        **os.environ,
        "PYTHONPATH": str(repo),
        # nothing of this machine's: a Prometheus that is not there, no Docker, no Prefect
        "STACKWATCH__PROMETHEUS__URL": f"http://127.0.0.1:{free_port()}",
        "STACKWATCH__PROMETHEUS__RETRIES": "0",
        "STACKWATCH__DOCKER__ENABLED": "false",
        "STACKWATCH__PROMETHEUS__TIMEOUT": "2s",
    }
    for name in ("PREFECT_API_URL", "PYTHONDONTWRITEBYTECODE", "STACKWATCH_CONFIG"):
        env.pop(name, None)
    stackwatch = [sys.executable, "-m", "stackwatch"]
    commands = [
        [*stackwatch, "config", "check"],
        [*stackwatch, "rules", "check"],
        [*stackwatch, "report", "daily", "--dry-run"],
        [*stackwatch, "cleanup", "weekly", "--dry-run"],
        [*stackwatch, "alerts", "evaluate", "--dry-run"],
        [*stackwatch, "alerts", "list"],
        [str(BIN / "ruff"), "check", "--quiet", "stackwatch/format.py"],
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/test_promql.py"],
    ]
    for command in commands:
        result = subprocess.run(
            command, cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert "Traceback" not in result.stderr, (command, result.stderr[-2000:])
        status = git(repo, "status", "--porcelain", "--untracked-files=all")
        assert status == "", f"{command[-3:]} left files git would add:\n{status}"
    # the dry run's report went to the state folder
    assert (repo / "state" / "reports" / "daily-report.html").is_file()
