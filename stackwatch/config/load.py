"""Loading the config: the file, ``STACKWATCH__`` overrides, and every problem with its line."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stackwatch.config.deadlines import deadline_problems
from stackwatch.config.files import MAX_CONFIG_BYTES, read_regular_bytes
from stackwatch.config.notify import notify_problems
from stackwatch.config.paths import resolve_paths
from stackwatch.config.sections import Config
from stackwatch.errors import ConfigError
from stackwatch.yamlfile import (
    format_loc,
    line_for,
    load,
    not_utf8,
    pydantic_message,
    yaml_error,
    yaml_line_index,
)

CONFIG_ENV = "STACKWATCH_CONFIG"
OVERRIDE_PREFIX = "STACKWATCH__"
DEFAULT_CONFIG = "stackwatch.yml"


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where it is and what is wrong."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigValidationError(ConfigError):
    """The config file has one or more problems; all of them are listed."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _overrides(environ: Mapping[str, str]) -> Iterator[tuple[list[str], Any]]:
    for key, raw in sorted(environ.items()):
        if key.startswith(OVERRIDE_PREFIX) and len(key) > len(OVERRIDE_PREFIX):
            path = [part.lower() for part in key[len(OVERRIDE_PREFIX) :].split("__")]
            try:
                value = load(raw) if raw else raw
            except yaml.YAMLError:
                value = raw
            yield path, value


def apply_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Apply ``STACKWATCH__SECTION__KEY=value`` variables (values parsed as YAML scalars)."""
    for path, value in _overrides(environ):
        node: dict[str, Any] = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return data


def _validation_problems(
    exc: ValidationError, filename: str, index: Mapping[tuple[Any, ...], int]
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        # pydantic appends the tag of union members and model names; keep the user's keys
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p[:1].isupper()))
        problems.append(
            ConfigProblem(filename, line_for(index, loc), format_loc(loc), pydantic_message(error))
        )
    return sorted(problems, key=lambda p: p.line or 0)


def parse_config(
    text: str, filename: str = DEFAULT_CONFIG, environ: Mapping[str, str] | None = None
) -> Config:
    """Validate config text; raises ConfigValidationError listing every problem."""
    try:
        data = load(text)
        index = yaml_line_index(text)
    except yaml.YAMLError as exc:
        line, message = yaml_error(exc, text)
        raise ConfigValidationError([ConfigProblem(filename, line, "", message)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigValidationError(
            [ConfigProblem(filename, 1, "", "the file must be a mapping of sections")]
        )
    data = apply_overrides(data, os.environ if environ is None else environ)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigValidationError(_validation_problems(exc, filename, index)) from None
    problems = [
        ConfigProblem(filename, line_for(index, loc), format_loc(loc), message)
        for loc, message in [*deadline_problems(config), *notify_problems(config.notify)]
    ]
    if problems:
        raise ConfigValidationError(problems)
    return config


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read: ``--config``, else $STACKWATCH_CONFIG, else ./stackwatch.yml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG)
    return default if default.exists() else None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the config; with no file anywhere, the defaults (plus overrides).

    Relative paths (in the file, in overrides or left at their defaults) are made absolute
    against the config file's folder, or the working folder when there is no file.
    """
    resolved = config_path(path)
    if resolved is None:
        return resolve_paths(parse_config("", "<defaults>"), Path.cwd())
    data = read_regular_bytes(resolved, "cannot read config", MAX_CONFIG_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, message = not_utf8(data, exc.start)
        raise ConfigValidationError([ConfigProblem(str(resolved), line, "", message)]) from None
    return resolve_paths(parse_config(text, str(resolved)), resolved.absolute().parent.resolve())
