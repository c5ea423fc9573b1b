"""The disk under the state database full: one line saying so, and no mail lost.

The full disk is a real one: a 2 MiB tmpfs mounted on a temp folder (the tests run as root in
CI), filled with a file until writing fails with ENOSPC.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerter.silences import parse_matcher
from alerter.store import AlertStore, StoreError
from stackwatch.cli import main
from tests.support.http import PROMETHEUS_TEXT, LocalServer, fixed
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

RULES = Path(__file__).parent / "fixtures" / "rules" / "alerting.yml"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of its own, unmounted at the end."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs: {result.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs (not root?): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; returns it (remove it to free the space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return filler


@pytest.mark.parametrize("held_open", [False, True], ids=["at-open", "mid-write"])
def test_a_full_disk_is_one_line_and_loses_no_mail(
    held_open: bool,
    small_disk: Path,
    smtp_server: SmtpServer,
    start_prometheus: Callable[..., PrometheusServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint = LocalServer(
        fixed(200, b'test_cpu_ratio{host="web-1"} 0.95\n'), content_type=PROMETHEUS_TEXT
    ).start()
    try:
        prometheus = start_prometheus([endpoint.url.removeprefix("http://")])
        prometheus.wait_for_series("test_cpu_ratio > 0.9")
        database = small_disk / "state" / "stackwatch.db"
        config = small_disk.parent / "stackwatch.yml"
        config.write_text(
            f"prometheus: {{url: '{prometheus.url}', retries: 0, timeout: 5s}}\n"
            f"smtp: {{host: {smtp_server.host}, port: {smtp_server.port}, tls: none,"
            " to: [ops@stackwatch.test]}\n"
            f"rules: {{paths: ['{RULES}']}}\n"
            f"state: {{path: '{database}'}}\n"
        )
        # the schema fits; the alerts and their mail will not. Held open, the WAL and its index
        # exist already and the disk fills up in the middle of the check's writes.
        holder = AlertStore(database)
        if not held_open:
            holder.close()
        filler = fill(small_disk)
        args = ["alerts", "evaluate", "--config", str(config), "--group", "threshold-test"]

        assert main(args) == 1
        err = capsys.readouterr().err
        assert err == f"stackwatch: state database {database}: the disk is full\n"
        assert smtp_server.messages == []

        filler.unlink()
        assert main(args) == 0
    finally:
        holder.close()
        endpoint.close()
    assert [m["Subject"] for m in smtp_server.messages] == [
        "[FIRING:1] threshold-test: HighCpuUsage"
    ]


def test_a_write_that_fills_the_disk_is_reported_and_rolled_back(small_disk: Path) -> None:
    database = small_disk / "stackwatch.db"
    with AlertStore(database) as store:
        filler = fill(small_disk)
        matchers = [parse_matcher("alertname=Big")]
        now = datetime.now(tz=UTC)
        with pytest.raises(StoreError, match=r"^state database .*: the disk is full$"):
            store.add_silence(matchers, now, now + timedelta(hours=1), "x" * 3_000_000, "me")
        filler.unlink()
        store.add_silence(matchers, now, now + timedelta(hours=1), "small", "me")
        assert [s.comment for s in store.silences(now=now)] == ["small"]
