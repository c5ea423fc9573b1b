"""The cleanup's free-space readings: a hung mount is reported, and never hangs the cleanup."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from stackwatch.config import Config
from stackwatch.reports.cleanup import CleanupReport, run_weekly_cleanup
from tests.support.fuse import hung_mount
from tests.support.timing import within


def fake_root(tmp_path: Path) -> Path:
    """A host root whose mount table lists the root filesystem and an NFS export."""
    root = tmp_path / "root"
    (root / "proc" / "1").mkdir(parents=True)
    (root / "proc" / "1" / "mounts").write_text(
        "/dev/vda1 / ext4 rw,relatime 0 0\n"
        "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
        "nas:/export/backup /mnt/backup nfs4 rw,relatime,hard 0 0\n"
    )
    (root / "mnt" / "backup").mkdir(parents=True)
    return root


def config_for(root: Path, tmp_path: Path) -> Config:
    return Config.model_validate(
        {
            "exporter": {"rootfs": str(root), "filesystem_mount_timeout": "500ms"},
            "cleanup": {"docker": {"enabled": False}},
            "state": {"path": str(tmp_path / "stackwatch.db")},
        }
    )


def test_free_space_before_and_after_of_each_filesystem(tmp_path: Path) -> None:
    root = fake_root(tmp_path)

    report = run_weekly_cleanup(config_for(root, tmp_path), dry_run=True)

    assert [fs.mountpoint for fs in report.filesystems_before] == ["/", "/mnt/backup"]
    assert all(fs.responding for fs in report.filesystems_before)
    assert report.filesystems_before[0].size_bytes > 0
    assert "not responding" not in report.text


@pytest.mark.integration
def test_a_hung_mount_is_reported_and_the_cleanup_finishes(tmp_path: Path) -> None:
    """A real hung filesystem (tests/support/fuse.py) where the mount table has an NFS export:
    every statvfs on it blocks, as on a hard mount whose server went away."""
    root = fake_root(tmp_path)
    config = config_for(root, tmp_path)
    reports: list[CleanupReport] = []
    with hung_mount(root / "mnt" / "backup") as mount:
        started = time.perf_counter()
        # on a thread: a cleanup that hangs fails the test instead of hanging it
        worker = threading.Thread(
            target=lambda: reports.append(run_weekly_cleanup(config, dry_run=True)), daemon=True
        )
        worker.start()
        worker.join(within(10))
        elapsed = time.perf_counter() - started
        mount.abort()  # whatever happened, the blocked call returns now
        assert reports, "the cleanup hung on the hung mount"
    assert elapsed < within(3), "the cleanup waited on the hung mount past its timeout"
    report = reports[0]
    by_mount = {fs.mountpoint: fs for fs in report.filesystems_before}
    assert by_mount["/"].responding
    assert not by_mount["/mnt/backup"].responding
    assert not {fs.mountpoint: fs for fs in report.filesystems_after}["/mnt/backup"].responding
    assert "/mnt/backup: not responding" in report.text
    assert "Nothing needs attention" not in report.text
