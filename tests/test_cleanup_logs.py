"""The log cleanup, run for real on temp folders: only old log files go, nothing else ever."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stackwatch.config import Config
from stackwatch.config.cleanup import DEFAULT_LOG_PATTERNS, LogCleanupConfig
from stackwatch.reports.cleanup import run_weekly_cleanup
from stackwatch.reports.logfiles import matches, remove_old_logs

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
OLD = NOW.timestamp() - 40 * 86400
NEW = NOW.timestamp() - 2 * 86400


def make(path: Path, mtime: float, size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def settings(folder: Path, **extra: object) -> LogCleanupConfig:
    return LogCleanupConfig.model_validate({"dirs": [str(folder)], "retention": "30d", **extra})


@pytest.mark.parametrize(
    ("name", "is_log"),
    [
        ("app.log", True),
        ("app.log.1", True),
        ("app.log.12", True),
        ("app.log.2.gz", True),
        ("app.log-20261101", True),
        ("app.log-20261101.gz", True),
        ("access.log-2026110112", True),
        ("app-20261101.log", True),
        ("app.log.old", True),
        ("libssl.so.3", False),
        ("python3.11", False),
        ("x.sql.gz", False),
        ("site.zip", False),
        ("config.bak", False),
        ("syslog.2", False),
        ("README", False),
        ("catalog.xml", False),
    ],
)
def test_default_patterns_name_what_logrotate_leaves(name: str, is_log: bool) -> None:
    assert matches(name, DEFAULT_LOG_PATTERNS) is is_log


@pytest.fixture
def folder(tmp_path: Path) -> dict[str, Path]:
    """A log folder as one is found on a server: logs, rotated logs, and things that are not."""
    logs = tmp_path / "logs"
    outside = tmp_path / "outside"
    files = {
        "stale": make(logs / "old.log", OLD),
        "live": make(logs / "app.log", NEW),
        "rot1": make(logs / "app.log.1", OLD, 1000),
        "rot2": make(logs / "app.log.2.gz", OLD, 500),
        "dated": make(logs / "app.log-20261001", OLD, 200),
        "young": make(logs / "app.log.3", NEW),
        "nested": make(logs / "sub" / "app.log.1", OLD),
        "libssl": make(logs / "libssl.so.3", OLD),
        "python": make(logs / "python3.11", OLD),
        "backup": make(logs / "backups" / "x.sql.gz", OLD),
        "zip": make(logs / "site.zip", OLD),
        "bak": make(logs / "config.bak", OLD),
        "target": make(outside / "keep.log.1", OLD),
        "target_in_dir": make(outside / "dir" / "other.log.1", OLD),
    }
    (logs / "link.log.1").symlink_to(files["target"])
    (logs / "linked").symlink_to(outside / "dir", target_is_directory=True)
    files["logs"] = logs
    return files


def test_only_old_log_files_go_and_nothing_else(folder: dict[str, Path]) -> None:
    result = remove_old_logs(settings(folder["logs"]), now=NOW.timestamp())

    gone = ["stale", "rot1", "rot2", "dated"]
    assert sorted(result.removed) == sorted(folder[k] for k in gone)
    assert result.bytes_freed == 100 + 1000 + 500 + 200
    assert result.errors == []
    for key, path in folder.items():
        assert path.exists() is (key not in gone), key
    assert (folder["logs"] / "link.log.1").is_symlink()
    assert (folder["logs"] / "linked").is_symlink()


def test_subfolders_only_when_asked_and_never_through_a_linked_folder(
    folder: dict[str, Path],
) -> None:
    result = remove_old_logs(settings(folder["logs"], recursive=True), now=NOW.timestamp())

    assert folder["nested"] in result.removed
    assert not folder["nested"].exists()
    assert folder["target_in_dir"].exists()
    assert folder["backup"].exists()
    assert folder["target"].exists()


def test_a_linked_log_folder_is_refused(folder: dict[str, Path], tmp_path: Path) -> None:
    link = tmp_path / "logs-link"
    link.symlink_to(folder["logs"], target_is_directory=True)

    result = remove_old_logs(settings(link), now=NOW.timestamp())

    assert result.removed == []
    assert result.errors == [f"{link}: a symlink: name the folder itself"]
    assert folder["rot1"].exists()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mounted inside the log folder: another filesystem (needs root)."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("mounting a tmpfs needs root")
        pytest.skip("mounting a tmpfs needs root")
    target = tmp_path / "logs" / "mnt"
    target.mkdir(parents=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tmpfs", bytes(target), b"tmpfs", 0, b"size=1m"):
        pytest.fail(f"mount tmpfs: {os.strerror(ctypes.get_errno())}")
    try:
        yield target
    finally:
        libc.umount2(bytes(target), 2)


def test_never_across_a_filesystem_boundary(tmpfs: Path) -> None:
    other = make(tmpfs / "app.log.1", OLD)
    mine = make(tmpfs.parent / "app.log.1", OLD)

    result = remove_old_logs(settings(tmpfs.parent, recursive=True), now=NOW.timestamp())

    assert result.removed == [mine]
    assert other.exists()


def test_never_into_a_bind_mount_of_the_same_filesystem(tmp_path: Path) -> None:
    """A bind mount inside the folder has the folder's device number: it is found by its
    mount point, not by the device."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("a bind mount needs root")
        pytest.skip("a bind mount needs root")
    source = make(tmp_path / "elsewhere" / "app.log.1", OLD).parent
    target = tmp_path / "logs" / "bound"
    target.mkdir(parents=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(bytes(source), bytes(target), None, 4096, None):  # MS_BIND
        pytest.fail(f"bind mount: {os.strerror(ctypes.get_errno())}")
    try:
        result = remove_old_logs(settings(tmp_path / "logs", recursive=True), now=NOW.timestamp())
    finally:
        libc.umount2(bytes(target), 2)

    assert result.removed == []
    assert (source / "app.log.1").exists()


def test_dry_run_lists_exactly_what_the_real_run_removes(
    folder: dict[str, Path], tmp_path: Path
) -> None:
    config = Config.model_validate(
        {
            "cleanup": {
                "docker": {"enabled": False},
                "logs": {
                    "dirs": [str(folder["logs"]), str(tmp_path / "missing")],
                    "retention": "30d",
                },
            }
        }
    )

    dry = run_weekly_cleanup(config, dry_run=True, now=NOW)
    dry_step = next(s for s in dry.steps if s.name == "Old log files")
    assert folder["rot1"].exists()
    real = run_weekly_cleanup(config, now=NOW)
    real_step = next(s for s in real.steps if s.name == "Old log files")

    expected = sorted(str(folder[k]) for k in ("stale", "rot1", "rot2", "dated"))
    assert sorted(dry_step.removed) == expected == sorted(real_step.removed)
    assert dry_step.bytes_freed == 1800 == real_step.bytes_freed
    assert not real_step.ok  # the missing folder is reported
    assert "missing: not a folder" in (real_step.error or "")
    assert "Would remove 4 (1.8 KiB): " in dry.text
    assert folder["libssl"].exists()
