"""The one validated configuration model, loaded from YAML with environment overrides."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stackwatch.errors import ConfigError
from stackwatch.yamlfile import format_loc, line_for, pydantic_message, yaml_error, yaml_line_index

CONFIG_ENV = "STACKWATCH_CONFIG"
OVERRIDE_PREFIX = "STACKWATCH__"
DEFAULT_CONFIG = "stackwatch.yml"
COLLECTOR_NAMES = ("host", "services", "docker", "kubernetes")

_DURATION_RE = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(value: object) -> float:
    """Parse a Prometheus duration (``90s``, ``5m``, ``1h30m``) or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("must be a duration like 30s, 5m or 1h")
    match = _DURATION_RE.match(value.strip())
    if not value.strip() or match is None:
        raise ValueError(f"invalid duration {value!r}: use a duration like 30s, 5m or 1h")
    groups = match.groups()[1::2]
    return float(sum(int(g) * unit for g, unit in zip(groups, _DURATION_UNITS, strict=True) if g))


Duration = Annotated[float, BeforeValidator(parse_duration)]


def check_listen(value: str) -> str:
    _host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {value!r}: expected HOST:PORT, e.g. 0.0.0.0:9810")
    return value


ListenAddress = Annotated[str, AfterValidator(check_listen)]


def split_listen(value: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:9810`` too) into host and port."""
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - an exporter listens on all


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"invalid URL {value!r}: scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"invalid URL {value!r}: no host")
    return value


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Model):
    """A secret read at use time from an environment variable or a file, never inline."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError(
                "inline secrets are not allowed: write {env: VARIABLE} or {file: /path/to/secret}"
            )
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def get(self) -> str:
        """Read the secret now; raises ConfigError naming the variable or file when missing."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"environment variable {self.env} is not set")
            return value
        path = self.file or Path()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from exc


class ExporterConfig(_Model):
    listen: ListenAddress = "0.0.0.0:9810"
    rootfs: Path = Path("/")
    collectors: dict[str, bool] = Field(
        default_factory=dict,
        description="collector name -> enabled; host and services default on, docker and "
        "kubernetes follow their own sections",
    )
    probe_interval: Duration = 15.0
    filesystem_mount_points_exclude: str = (
        r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
    )
    filesystem_fs_types_exclude: str = (
        r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
        r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
        r"|squashfs|erofs|sysfs|tracefs)$"
    )
    filesystem_mount_timeout: Duration = Field(default=5.0, gt=0)

    @field_validator("collectors")
    @classmethod
    def _known_collectors(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(COLLECTOR_NAMES))
        if unknown:
            raise ValueError(
                f"unknown collector {', '.join(unknown)}: choose from {', '.join(COLLECTOR_NAMES)}"
            )
        return value

    @field_validator("filesystem_mount_points_exclude", "filesystem_fs_types_exclude")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


class ServiceConfig(_Model):
    name: str = Field(min_length=1)
    url: HttpUrl
    timeout: Duration = 5.0
    expected_status: list[int] = Field(default_factory=lambda: [200])
    verify_tls: bool = True

    @field_validator("expected_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value


class DockerConfig(_Model):
    enabled: bool = True
    host: str = "unix:///var/run/docker.sock"
    timeout: Duration = 5.0
    events: bool = True
    resync_interval: Duration = Field(default=300.0, gt=0)


class KubernetesConfig(_Model):
    enabled: bool = False
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    refresh_interval: Duration = 30.0
    timeout: Duration = 10.0
    page_size: int = Field(default=500, ge=1)


class BasicAuth(_Model):
    username: str
    password: Secret


class PrometheusConfig(_Model):
    url: HttpUrl = "http://127.0.0.1:9090"
    timeout: Duration = 10.0
    retries: int = Field(default=3, ge=0)
    basic_auth: BasicAuth | None = None
    bearer_token: Secret | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    job: str = Field(
        default="stackwatch",
        description="scrape job of the exporter: when its `up` is 0 no alert resolves",
    )
    max_concurrency: int = Field(default=8, ge=1)


class SmtpConfig(_Model):
    host: str | None = Field(
        default=None, description="unset: mail is written as .eml files to outbox_dir"
    )
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    sender: str = Field(default="stackwatch@localhost", alias="from")
    to: list[str] = Field(default_factory=list)
    timeout: Duration = 30.0
    outbox_dir: Path = Path("state/outbox")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.tls]


class RulesConfig(_Model):
    paths: list[str] = Field(default_factory=lambda: ["rules/*.yml"])
    repeat_interval: Duration = 4 * 3600.0
    send_resolved: bool = True
    templates_dir: Path | None = None


class StateConfig(_Model):
    path: Path = Path("state/stackwatch.db")


class LinksConfig(_Model):
    prometheus_url: HttpUrl | None = Field(
        default=None,
        description="Prometheus URL for graph links in mail; defaults to prometheus.url",
    )
    grafana_url: HttpUrl | None = None
    prefect_ui_url: HttpUrl | None = None


class DockerCleanupConfig(_Model):
    enabled: bool = True
    volumes: bool = False
    keep_label: str | None = "stackwatch.keep"


class ElasticsearchCleanupConfig(_Model):
    url: HttpUrl
    prefixes: list[str] = Field(min_length=1)
    retention: Duration = 30 * 86400.0
    username: str | None = None
    password: Secret | None = None
    api_key: Secret | None = None
    timeout: Duration = 30.0
    verify_tls: bool = True


class LokiCleanupConfig(_Model):
    url: HttpUrl
    selector: str = '{job=~".+"}'
    retention: Duration = 30 * 86400.0
    chunks_dir: Path | None = None
    org_id: str | None = None
    timeout: Duration = 30.0


class PrefectConfig(_Model):
    api_url: HttpUrl | None = Field(
        default=None, description="Prefect API for the daily report; unset: $PREFECT_API_URL"
    )
    api_key: Secret | None = None
    timeout: Duration = 10.0


class CleanupConfig(_Model):
    docker: DockerCleanupConfig = Field(default_factory=DockerCleanupConfig)
    elasticsearch: ElasticsearchCleanupConfig | None = None
    loki: LokiCleanupConfig | None = None
    log_dirs: list[Path] = Field(default_factory=list)
    log_retention: Duration = 30 * 86400.0
    alert_history: Duration = Field(
        default=90 * 86400.0,
        description="resolved alerts, sent mail and expired silences older than this are forgotten",
    )


class Config(_Model):
    """The whole of ``stackwatch.yml``."""

    exporter: ExporterConfig = Field(default_factory=ExporterConfig)
    services: list[ServiceConfig] = Field(default_factory=list)
    docker: DockerConfig = Field(default_factory=DockerConfig)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    links: LinksConfig = Field(default_factory=LinksConfig)
    cleanup: CleanupConfig = Field(default_factory=CleanupConfig)
    prefect: PrefectConfig = Field(default_factory=PrefectConfig)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # a section whose keys are all commented out is an empty section, not an error
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @field_validator("services")
    @classmethod
    def _unique_names(cls, value: list[ServiceConfig]) -> list[ServiceConfig]:
        seen: set[str] = set()
        for service in value:
            if service.name in seen:
                raise ValueError(f"duplicate service name {service.name!r}")
            seen.add(service.name)
        return value

    def collector_enabled(self, name: str) -> bool:
        """Whether a collector runs: its switch in exporter.collectors, else its own section."""
        switches = self.exporter.collectors
        if name in switches:
            return switches[name]
        if name == "docker":
            return self.docker.enabled
        if name == "kubernetes":
            return self.kubernetes.enabled
        return True


# --- loading -------------------------------------------------------------------------------


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
                value = yaml.safe_load(raw) if raw else raw
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
        data = yaml.safe_load(text)
        index = yaml_line_index(text)
    except yaml.YAMLError as exc:
        line, message = yaml_error(exc)
        raise ConfigValidationError([ConfigProblem(filename, line, "", message)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigValidationError(
            [ConfigProblem(filename, 1, "", "the file must be a mapping of sections")]
        )
    data = apply_overrides(data, os.environ if environ is None else environ)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigValidationError(_validation_problems(exc, filename, index)) from None


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
    """Load and validate the config; with no file anywhere, the defaults (plus overrides)."""
    resolved = config_path(path)
    if resolved is None:
        return parse_config("", "<defaults>")
    try:
        text = resolved.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{resolved}: cannot read config: {exc.strerror}") from None
    return parse_config(text, str(resolved))
