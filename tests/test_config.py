"""The config model: defaults, overrides, secrets, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.cli import main
from stackwatch.config import (
    Config,
    ConfigValidationError,
    load_config,
    parse_config,
    parse_duration,
)
from stackwatch.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "config"
INVALID = sorted(FIXTURES.glob("invalid-*.yml"))


def expected_messages(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_config_lists_every_problem_with_file_line_and_key(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(FIXTURES)
    code = main(["config", "check", "--config", path.name])
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[:-1] == expected_messages(path)
    assert err[-1] == f"{len(expected_messages(path))} problem(s) found"


def test_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config", "check", "--config", str(REPO / "stackwatch.example.yml")])
    assert code == 0
    assert "OK (2 services" in capsys.readouterr().out


def test_defaults_without_a_file() -> None:
    config = parse_config("")
    assert config.exporter.listen == "0.0.0.0:9810"
    assert config.prometheus.url == "http://127.0.0.1:9090"
    assert config.smtp.host is None  # mail goes to the outbox folder
    assert config.collector_enabled("host")
    assert config.collector_enabled("docker")
    assert not config.collector_enabled("kubernetes")


def test_default_rules_are_the_working_folders_else_the_shipped_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_config("").rules.paths == [str(REPO / "rules" / "*.yml")]
    (tmp_path / "rules").mkdir()
    assert parse_config("").rules.paths == [str(tmp_path / "rules" / "*.yml")]


def test_environment_overrides_win_over_the_file() -> None:
    text = "smtp:\n  host: mail.example.org\n  port: 25\n"
    env = {
        "STACKWATCH__SMTP__PORT": "2525",
        "STACKWATCH__EXPORTER__ROOTFS": "/host",
        "STACKWATCH__KUBERNETES__ENABLED": "true",
        "UNRELATED": "x",
    }
    config = parse_config(text, environ=env)
    assert config.smtp.host == "mail.example.org"
    assert config.smtp.port == 2525
    assert config.exporter.rootfs == Path("/host")
    assert config.collector_enabled("kubernetes")


def test_bad_override_is_reported_with_its_key() -> None:
    with pytest.raises(ConfigValidationError, match=r"smtp\.port: Input should be a valid integer"):
        parse_config("", environ={"STACKWATCH__SMTP__PORT": "twenty-five"})


def test_secret_from_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("s3cret\n")
    text = (
        "smtp:\n  username: alerts\n  password: {env: TEST_SMTP_PASSWORD}\n"
        f"prometheus:\n  bearer_token: {{file: {secret_file}}}\n"
    )
    config = parse_config(text)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "hunter2")
    assert config.smtp.password is not None
    assert config.smtp.password.get() == "hunter2"
    assert config.prometheus.bearer_token is not None
    assert config.prometheus.bearer_token.get() == "s3cret"
    monkeypatch.delenv("TEST_SMTP_PASSWORD")
    with pytest.raises(ConfigError, match="environment variable TEST_SMTP_PASSWORD is not set"):
        config.smtp.password.get()


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "custom.yml"
    path.write_text("exporter:\n  listen: 127.0.0.1:19999\n")
    monkeypatch.setenv("STACKWATCH_CONFIG", str(path))
    assert load_config().exporter.listen == "127.0.0.1:19999"


def test_missing_config_file_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["config", "check", "--config", str(tmp_path / "nope.yml")])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"stackwatch: {tmp_path / 'nope.yml'}: cannot read config: No such file or directory"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604800), ("250ms", 0.25), (12, 12)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_duplicate_service_names_are_rejected() -> None:
    text = (
        "services:\n"
        "  - {name: web, url: 'http://127.0.0.1:1/'}\n"
        "  - {name: web, url: 'http://127.0.0.1:2/'}\n"
    )
    with pytest.raises(ConfigValidationError, match="services: duplicate service name 'web'"):
        parse_config(text)


def test_config_model_is_immutable() -> None:
    config = Config()
    with pytest.raises(ValueError, match="frozen"):
        config.exporter.listen = "x"  # type: ignore[misc]
