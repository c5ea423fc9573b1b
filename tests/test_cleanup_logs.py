"""Removal of old rotated log files from the configured folders."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stackwatch.config import Config
from stackwatch.reports.cleanup import run_weekly_cleanup
from stackwatch.reports.logfiles import is_rotated, remove_old_logs

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
OLD = NOW.timestamp() - 40 * 86400
NEW = NOW.timestamp() - 2 * 86400


def make(path: Path, mtime: float, size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


@pytest.mark.parametrize(
    ("name", "rotated"),
    [
        ("app.log", False),
        ("app.log.1", True),
        ("syslog.2.gz", True),
        ("app-20261101.log", True),
        ("access.log-2026110112", True),
        ("nginx.log.old", True),
        ("error.log", False),
        ("README", False),
    ],
)
def test_only_rotated_names_are_candidates(name: str, rotated: bool) -> None:
    assert is_rotated(name) is rotated


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "logs"
    outside = make(tmp_path / "elsewhere" / "keep.log.1", OLD)
    files = {
        "live": make(folder / "app.log", OLD),
        "old1": make(folder / "app.log.1", OLD, 1000),
        "old2": make(folder / "nested" / "app.log.2.gz", OLD, 500),
        "young": make(folder / "app.log.3", NEW),
        "outside": outside,
    }
    (folder / "link.log.1").symlink_to(outside)
    files["folder"] = folder
    return files


def test_old_rotated_files_go_and_live_young_and_linked_ones_stay(logs: dict[str, Path]) -> None:
    result = remove_old_logs([logs["folder"]], retention=30 * 86400, now=NOW.timestamp())

    assert sorted(result.removed) == sorted([logs["old1"], logs["old2"]])
    assert result.bytes_freed == 1500
    assert not logs["old1"].exists()
    assert not logs["old2"].exists()
    for kept in ("live", "young", "outside"):
        assert logs[kept].exists()
    assert (logs["folder"] / "link.log.1").is_symlink()


def test_dry_run_and_report(logs: dict[str, Path], tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "cleanup": {
                "docker": {"enabled": False},
                "log_dirs": [str(logs["folder"]), str(tmp_path / "missing")],
                "log_retention": "30d",
            }
        }
    )

    report = run_weekly_cleanup(config, dry_run=True, now=NOW)

    assert logs["old1"].exists()
    assert logs["old2"].exists()
    step = next(s for s in report.steps if s.name == "Old rotated log files")
    assert sorted(step.removed) == sorted([str(logs["old1"]), str(logs["old2"])])
    assert step.bytes_freed == 1500
    assert not step.ok  # the missing folder is reported
    assert "missing: not a folder" in (step.error or "")
    assert "Would remove (2)" in report.text
