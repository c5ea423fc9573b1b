"""Config that cannot go wrong quietly: files that are not files, relative paths, CLI bounds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stackwatch.cli import main
from stackwatch.config import ConfigValidationError, load_config, parse_config
from stackwatch.errors import ConfigError
from tests.support.timing import within

REPO = Path(__file__).resolve().parent.parent


def _check(path: str) -> subprocess.CompletedProcess[str]:
    """``stackwatch config check`` in its own process, so a hang is a timeout, not a stuck run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKWATCH")}
    return subprocess.run(
        [sys.executable, "-m", "stackwatch", "config", "check", "--config", path],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=within(20),
        check=False,
    )


def test_a_named_pipe_as_config_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "stackwatch.yml"
    os.mkfifo(fifo)
    result = _check(str(fifo))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"stackwatch: {fifo}: cannot read config: a named pipe, not a regular file"
    )


@pytest.mark.parametrize(
    ("path", "kind"), [("<tmp>", "a folder"), ("/dev/zero", "a device"), ("/dev/null", "a device")]
)
def test_a_folder_or_device_as_config_is_one_line(tmp_path: Path, path: str, kind: str) -> None:
    target = str(tmp_path) if path == "<tmp>" else path
    result = _check(target)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"stackwatch: {target}: cannot read config: {kind}, not a regular file"
    )


def test_a_huge_config_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "stackwatch.yml"
    big.write_text("# padding\n" * 200_000)
    assert main(["config", "check", "--config", str(big)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"stackwatch: {big}: cannot read config: larger than 1 MiB"
    )


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "token").write_text("t0ken\n")
    config_file = folder / "stackwatch.yml"
    config_file.write_text(
        "state:\n  path: data/alerts.db\n"
        "smtp:\n  outbox_dir: mail\n"
        "rules:\n  paths: [myrules/*.yml, /abs/rules.yml]\n  templates_dir: tpl\n"
        "prometheus:\n  bearer_token: {file: token}\n"
        "kubernetes:\n  kubeconfig: kube.yaml\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("STACKWATCH_CONFIG", raising=False)
    config = load_config("../etc/stackwatch.yml")
    assert config.state.path == folder / "data" / "alerts.db"
    assert config.smtp.outbox_dir == folder / "mail"
    assert config.rules.paths == [str(folder / "myrules" / "*.yml"), "/abs/rules.yml"]
    assert config.rules.templates_dir == folder / "tpl"
    assert config.kubernetes.kubeconfig == folder / "kube.yaml"
    assert config.prometheus.bearer_token is not None
    assert config.prometheus.bearer_token.get() == "t0ken"
    # defaults and overrides are part of the config: the same folder
    monkeypatch.setenv("STACKWATCH__SMTP__OUTBOX_DIR", "other")
    config = load_config(str(config_file))
    assert config.smtp.outbox_dir == folder / "other"
    assert load_config(str(tmp_path / "etc" / "stackwatch.yml")).exporter.rootfs == Path("/")


def test_without_a_file_relative_defaults_are_the_working_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STACKWATCH_CONFIG", raising=False)
    config = load_config()
    assert config.state.path == tmp_path / "state" / "stackwatch.db"
    assert config.smtp.outbox_dir == tmp_path / "state" / "outbox"


def test_a_secret_in_an_invalid_url_is_not_echoed() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        parse_config("prometheus:\n  url: ftp://admin:hunter2@host/\n")
    assert "hunter2" not in str(caught.value)
    assert "prometheus.url: invalid URL 'ftp://…@host/': scheme must be http or https" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prometheus:\n  timeout: 9" + "9" * 400 + "y\n", "is too long"),
        ("prometheus:\n  timeout: 1" + "0" * 400 + "\n", "is too large"),
        ("prometheus:\n  timeout: .nan\n", "must be between 100ms and 10m"),
    ],
)
def test_durations_beyond_a_float_are_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigValidationError, match=re.escape(message)):
        parse_config(text)


@pytest.fixture
def config_file(tmp_path: Path) -> str:
    path = tmp_path / "stackwatch.yml"
    path.write_text("state:\n  path: state/stackwatch.db\n")
    return str(path)


@pytest.mark.parametrize("duration", ["300000y", "0s", "0", "9" * 400 + "y", "2y"])
def test_silence_for_out_of_range_is_one_line(
    config_file: str, duration: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["silence", "add", "-c", config_file, "-m", "a=b", "--comment", "x"]
    assert main([*args, "--for", duration]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("stackwatch: --for: ")


def test_silence_for_a_year_is_fine(config_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["silence", "add", "-c", config_file, "-m", "a=b", "--comment", "x"]
    assert main([*args, "--for", "365d"]) == 0
    assert capsys.readouterr().out.startswith("silence 1 until ")


@pytest.mark.parametrize("silence_id", ["1e23", "100000000000000000000000", "0", "-1", "x"])
def test_silence_expire_with_an_impossible_id_is_one_line(
    config_file: str, silence_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["silence", "expire", "-c", config_file, silence_id]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"stackwatch: silence id must be a whole number from 1 to 9223372036854775807, "
        f"not {silence_id!r}\n"
    )


def test_a_secret_file_that_is_a_named_pipe_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "password"
    os.mkfifo(fifo)
    config = parse_config(f"prometheus:\n  bearer_token: {{file: '{fifo}'}}\n")
    assert config.prometheus.bearer_token is not None
    outcome: list[BaseException | str] = []

    def read() -> None:
        try:
            outcome.append(config.prometheus.bearer_token.get())  # type: ignore[union-attr]
        except ConfigError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(within(5))
    assert [str(o) for o in outcome] == [
        f"{fifo}: cannot read secret file: a named pipe, not a regular file"
    ]
