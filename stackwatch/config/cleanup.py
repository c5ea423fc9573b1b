"""The ``cleanup`` section: what the weekly cleanup may remove, and the guards on its ages."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
)

from stackwatch.config.base import Secret, Timeout, _Model
from stackwatch.config.values import HttpUrl, parse_duration
from stackwatch.format import format_duration

DAY = 86400.0

# Files a log folder may also hold that no log pattern may match (each was once deleted).
NOT_LOGS = ("libssl.so.3", "python3.11", "x.sql.gz", "site.zip", "config.bak", "README")

# What logrotate leaves: numbered (app.log.1), compressed (app.log.2.gz), dated with dateext
# (app.log-20261101, app.log-2026110112.gz) or dated before the extension (app-20261101.log);
# and a *.log that has not been written for the whole retention.
DEFAULT_LOG_PATTERNS = (
    "*.log",
    "*.log.[0-9]",
    "*.log.[0-9][0-9]",
    "*.log.[0-9][0-9][0-9]",
    "*.log.old",
    "*.log.gz",
    "*.log.*.gz",
    "*.log.*.xz",
    "*.log.*.bz2",
    "*.log.*.zst",
    "*.log-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]*",
    "*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].log",
    "*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].log.gz",
)


def _age(value: Any) -> Any:
    """An age or retention must carry its unit: a bare ``30`` once meant 30 seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = int(value) if float(value).is_integer() else value
        raise ValueError(f"{number} has no unit: use a unit, e.g. {number}d")
    if isinstance(value, str) and value.strip().isdigit():
        raise ValueError(f"{value.strip()} has no unit: use a unit, e.g. {value.strip()}d")
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


def _check_retention(seconds: float, info: ValidationInfo) -> float:
    if seconds < DAY and not info.data.get("allow_short_retention", False):
        raise ValueError(
            f"{format_duration(seconds)} is under one day: set allow_short_retention: true "
            "if that is meant"
        )
    return seconds


def _index_prefix(value: str) -> str:
    if not value.strip():
        raise ValueError("an empty prefix matches every index: name the indices, e.g. logstash-")
    if any(c in value for c in "*?") or value.strip() == "_all":
        raise ValueError(
            f"{value!r} would match every index: prefixes are plain text, not wildcards"
        )
    if "," in value:
        raise ValueError(f"{value!r} is a list: give each prefix as an entry of its own")
    return value


def _log_pattern(value: str) -> str:
    if not value.strip() or "/" in value:
        raise ValueError("a pattern is a file name glob without a folder, e.g. *.log.*.gz")
    for name in NOT_LOGS:
        if fnmatch.fnmatchcase(name, value):
            raise ValueError(
                f"{value!r} also matches files that are not logs ({name}): name log files, "
                "e.g. *.log.*.gz"
            )
    return value


# written back with its unit, so a dumped config loads again (an age needs one)
Age = Annotated[
    float,
    BeforeValidator(_age),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
IndexPrefix = Annotated[str, AfterValidator(_index_prefix)]
LogPattern = Annotated[str, AfterValidator(_log_pattern)]


class DockerCleanupConfig(_Model):
    enabled: bool = True
    volumes: bool = False
    keep_label: str | None = "stackwatch.keep"


class ElasticsearchCleanupConfig(_Model):
    url: HttpUrl
    prefixes: list[IndexPrefix] = Field(min_length=1)
    allow_short_retention: bool = False
    retention: Age = 30 * DAY
    username: str | None = None
    password: Secret | None = None
    api_key: Secret | None = None
    timeout: Timeout = 30.0
    verify_tls: bool = True

    @field_validator("retention")
    @classmethod
    def _short(cls, value: float, info: ValidationInfo) -> float:
        return _check_retention(value, info)


class LokiCleanupConfig(_Model):
    url: HttpUrl
    selector: str = '{job=~".+"}'
    allow_short_retention: bool = False
    retention: Age = 30 * DAY
    chunks_dir: Path | None = None
    org_id: str | None = None
    timeout: Timeout = 30.0

    @field_validator("retention")
    @classmethod
    def _short(cls, value: float, info: ValidationInfo) -> float:
        return _check_retention(value, info)


class LogCleanupConfig(_Model):
    """Log folders and which of their files the cleanup may delete once old enough."""

    dirs: list[Path] = Field(default_factory=list)
    patterns: list[LogPattern] = Field(default_factory=lambda: list(DEFAULT_LOG_PATTERNS))
    recursive: bool = False
    allow_short_retention: bool = False
    retention: Age = 30 * DAY

    @field_validator("retention")
    @classmethod
    def _short(cls, value: float, info: ValidationInfo) -> float:
        return _check_retention(value, info)


class CleanupConfig(_Model):
    docker: DockerCleanupConfig = Field(default_factory=DockerCleanupConfig)
    elasticsearch: ElasticsearchCleanupConfig | None = None
    loki: LokiCleanupConfig | None = None
    logs: LogCleanupConfig = Field(default_factory=LogCleanupConfig)
    alert_history: Age = Field(
        default=90 * DAY,
        description="resolved alerts, sent mail and expired silences older than this are forgotten",
    )
    # the keys before cleanup.logs, kept only to say where they went
    log_dirs: None = Field(default=None, exclude=True)
    log_retention: None = Field(default=None, exclude=True)

    @field_validator("log_dirs", "log_retention", mode="before")
    @classmethod
    def _moved(cls, value: Any, info: ValidationInfo) -> None:
        key = (info.field_name or "").removeprefix("log_")
        raise ValueError(f"moved: write cleanup.logs.{key}")
