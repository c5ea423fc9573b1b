"""Files stackwatch creates are private (0600 in folders it creates 0700), wherever it is run."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alerter.store import AlertStore
from stackwatch.cli import main
from stackwatch.config import SmtpConfig
from stackwatch.mail import Mailer, compose
from tests.support.http import PROMETHEUS_TEXT, LocalServer, fixed
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer

RULES = Path(__file__).parent / "fixtures" / "rules" / "alerting.yml"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which files are created world-readable unless made private."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_database_and_its_wal_are_private_in_private_folders(tmp_path: Path) -> None:
    existing = tmp_path / "srv"
    existing.mkdir(mode=0o755)
    path = existing / "new" / "state" / "stackwatch.db"
    with AlertStore(path) as store:
        store.queued()  # the WAL and its index exist while the database is open
        files = [path, path.with_name("stackwatch.db-wal"), path.with_name("stackwatch.db-shm")]
        assert {f.name: oct(mode(f)) for f in files} == {f.name: "0o600" for f in files}
    assert oct(mode(existing / "new")) == "0o700"
    assert oct(mode(existing / "new" / "state")) == "0o700"
    assert oct(mode(existing)) == "0o755"  # a folder it did not create keeps its mode


def test_outbox_mail_is_private_in_private_folders(tmp_path: Path) -> None:
    outbox = tmp_path / "state" / "outbox"
    mailer = Mailer(SmtpConfig(outbox_dir=outbox, to=["ops@stackwatch.test"]))
    mailer.send(compose("s", "t", "<p>h</p>", sender="a@stackwatch.test", to=["b@x.test"]))
    [eml] = outbox.glob("*.eml")
    assert oct(mode(eml)) == "0o600"
    assert oct(mode(outbox)) == "0o700"
    assert oct(mode(tmp_path / "state")) == "0o700"


@pytest.mark.integration
def test_one_config_from_two_working_folders_sends_one_firing_mail(
    tmp_path: Path,
    smtp_server: SmtpServer,
    start_prometheus: Callable[..., PrometheusServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint = LocalServer(
        fixed(200, b'test_cpu_ratio{host="web-1"} 0.95\n'), content_type=PROMETHEUS_TEXT
    ).start()
    try:
        prometheus = start_prometheus([endpoint.url.removeprefix("http://")])
        prometheus.wait_for_series("test_cpu_ratio > 0.9")
        folder = tmp_path / "etc"
        folder.mkdir()
        config = folder / "stackwatch.yml"
        config.write_text(
            f"prometheus: {{url: '{prometheus.url}', retries: 0, timeout: 5s}}\n"
            f"smtp: {{host: {smtp_server.host}, port: {smtp_server.port}, tls: none,"
            " to: [ops@stackwatch.test]}\n"
            f"rules: {{paths: ['{RULES}']}}\n"
            "state: {path: state/stackwatch.db}\n"  # relative: the config's folder
        )
        monkeypatch.delenv("STACKWATCH_CONFIG", raising=False)
        for name in ("one", "two"):
            cwd = tmp_path / name
            cwd.mkdir()
            monkeypatch.chdir(cwd)
            main(["alerts", "evaluate", "--config", str(config), "--group", "threshold-test"])
        out = capsys.readouterr().out
    finally:
        endpoint.close()
    assert [m["Subject"] for m in smtp_server.messages] == [
        "[FIRING:1] threshold-test: HighCpuUsage"
    ], out
    assert (folder / "state" / "stackwatch.db").exists()
    assert not (tmp_path / "one" / "state").exists()


def test_the_launchers_logs_are_private_in_private_folders(tmp_path: Path) -> None:
    from flows.launcher_process import Component

    log = tmp_path / "state" / "logs" / "exporter.log"
    component = Component("echo", ["/bin/echo", "hello"], "http://127.0.0.1:1/", log, port=1)
    component.start()
    assert component.process is not None
    assert component.process.wait(timeout=10) == 0
    assert log.read_text() == "hello\n"
    assert oct(mode(log)) == "0o600"
    assert oct(mode(log.parent)) == "0o700"
    assert oct(mode(log.parent.parent)) == "0o700"


def test_a_state_path_that_is_a_named_pipe_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "stackwatch.db"
    os.mkfifo(fifo)
    config = tmp_path / "stackwatch.yml"
    config.write_text(f"state: {{path: '{fifo}'}}\n")
    assert main(["silence", "list", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"stackwatch: cannot open state database {fifo}: ")
    assert err.count("\n") == 1
