"""The sections of ``stackwatch.yml`` as pydantic models (the cleanup's in ``cleanup.py``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from stackwatch.catalog import BUILTIN_ASSIGNMENTS, CHECK_FLOWS, NOT_EVALUATED
from stackwatch.config.base import (
    BasicAuth,
    Interval,
    Secret,
    StatusCode,
    Timeout,
    _Model,
    unique_names,
)
from stackwatch.config.cleanup import (
    CleanupConfig,
)
from stackwatch.config.notify import NotifyConfig
from stackwatch.config.values import (
    Duration,
    HttpUrl,
    ListenAddress,
    between,
    count_between,
)
from stackwatch.config.watchdog import WatchdogConfig
from stackwatch.install import InstallError, data_path

COLLECTOR_NAMES = ("host", "services", "docker", "cgroups", "kubernetes", "outbox")


class ExporterConfig(_Model):
    listen: ListenAddress = "0.0.0.0:9810"
    rootfs: Path = Path("/")
    collectors: dict[str, bool] = Field(
        default_factory=dict,
        description="collector name -> enabled; host and services default on, docker and "
        "cgroups follow the docker section, kubernetes its own",
    )
    probe_interval: Annotated[Duration, between("1s", "1d")] = 15.0
    filesystem_mount_points_exclude: str = (
        r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
    )
    filesystem_fs_types_exclude: str = (
        r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
        r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
        r"|squashfs|erofs|sysfs|tracefs)$"
    )
    filesystem_mount_timeout: Annotated[Duration, between("100ms", "1m")] = 5.0
    textfile_directory: Path | None = None

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
    timeout: Annotated[Duration, between("100ms", "5m")] = 5.0
    expected_status: list[StatusCode] = Field(default_factory=lambda: [200], min_length=1)
    verify_tls: bool = True
    basic_auth: BasicAuth | None = None

    @field_validator("expected_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value


class DockerConfig(_Model):
    enabled: bool = True
    host: str = "unix:///var/run/docker.sock"
    timeout: Timeout = 5.0
    events: bool = True
    resync_interval: Interval = 300.0


class KubernetesConfig(_Model):
    enabled: bool = False
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    refresh_interval: Interval = 30.0
    timeout: Timeout = 10.0
    page_size: Annotated[int, count_between(1, 10000)] = 500


class PrometheusConfig(_Model):
    url: HttpUrl = "http://127.0.0.1:9090"
    timeout: Timeout = 10.0
    retries: Annotated[int, count_between(0, 10)] = 3
    basic_auth: BasicAuth | None = None
    bearer_token: Secret | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    job: str = Field(
        default="stackwatch",
        description="scrape job of the exporter: aggregations resolve only while it is all up",
    )
    max_concurrency: Annotated[int, count_between(1, 64)] = 8

    @field_validator("headers")
    @classmethod
    def _no_inline_credentials(cls, value: dict[str, str]) -> dict[str, str]:
        # the message names the headers, never their values
        named = [n for n in value if n.lower() in ("authorization", "proxy-authorization")]
        if named:
            raise ValueError(
                f"credentials in headers ({', '.join(named)}) are not allowed, the file would "
                "hold them: use prometheus.basic_auth or prometheus.bearer_token with {env: …}"
            )
        return value


class SmtpConfig(_Model):
    host: str | None = Field(
        default=None, description="unset: mail is written as .eml files to outbox_dir"
    )
    port: Annotated[int, count_between(1, 65535)] | None = None
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    sender: str = Field(default="stackwatch@localhost", alias="from")
    to: list[str] = Field(default_factory=list)
    timeout: Timeout = 30.0
    data_timeout: Annotated[Duration, between("1s", "1h")] = Field(
        default=120.0, description="wait for the server's acknowledgement of a sent message"
    )
    retry_interval: Annotated[Duration, between("0s", "1d")] = Field(
        default=60.0, description="first wait before a deferred mail is tried again; doubles"
    )
    retry_max_interval: Annotated[Duration, between("1s", "1d")] = 900.0
    give_up_after: Annotated[Duration, between("1m", "30d")] = Field(
        default=3 * 86400.0,
        description="a mail that meets only transient failures this long after it was queued "
        "is dead",
    )
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


def default_rule_paths() -> list[str]:
    """``rules/*.yml`` of the working folder, else the rule files shipped with stackwatch."""
    if Path("rules").is_dir():
        # absolute: it is the working folder's, not the config folder's
        return [str(Path("rules").absolute() / "*.yml")]
    try:
        return [str(data_path("rules") / "*.yml")]
    except InstallError:
        return ["rules/*.yml"]  # reported as missing when the rules are loaded


class FlappingConfig(_Model):
    """Flap detection: an alert changing state more than ``changes`` times within ``window`` is
    mailed once as flapping, then not again until it has not changed for ``settle``."""

    enabled: bool = True
    changes: Annotated[int, count_between(2, 1000)] = 4
    # the change history kept per alert spans ``window``: a day bounds it
    window: Annotated[Duration, between("1s", "1d")] = 3600.0
    settle: Annotated[Duration, between("1s", "1d")] = 1800.0


def _check_flow(value: str) -> str:
    if value not in (*CHECK_FLOWS, NOT_EVALUATED):
        raise ValueError(
            f"unknown check flow {value!r}: expected one of {', '.join(CHECK_FLOWS)}, "
            f"or {NOT_EVALUATED!r} for a group no flow evaluates"
        )
    return value


class BetweenRunsConfig(_Model):
    """Each evaluation covers the time since the group's previous one, up to ``max_span`` back,
    at a step of ``resolution`` (the scrape interval) or coarser where the span needs it."""

    enabled: bool = True
    max_span: Annotated[Duration, between("1m", "7d")] = 6 * 3600.0
    resolution: Annotated[Duration, between("1s", "1m")] = 15.0


class RulesConfig(_Model):
    paths: list[str] = Field(
        default_factory=default_rule_paths,
        description="rule files, folders or globs; default rules/*.yml of the working folder, "
        "else the rules shipped with stackwatch",
    )
    repeat_interval: Annotated[Duration, between("1s", "365d")] = 4 * 3600.0
    send_resolved: bool = True
    templates_dir: Path | None = None
    flapping: FlappingConfig = FlappingConfig()
    between_runs: BetweenRunsConfig = BetweenRunsConfig()
    # a group named after no flow is evaluated by threshold-alert-check unless named here
    flows: dict[str, Annotated[str, AfterValidator(_check_flow)]] = Field(
        default_factory=lambda: dict(BUILTIN_ASSIGNMENTS),
        description="rule group -> the check flow that evaluates it, for groups not named "
        "after a flow (default threshold-alert-check; 'none': no flow evaluates it; "
        "stackwatch-watchdog is 'none' unless named here)",
    )

    @field_validator("flows")
    @classmethod
    def _not_a_flows_own(cls, value: dict[str, str]) -> dict[str, str]:
        moved = [g for g, flow in value.items() if g in CHECK_FLOWS and flow != g]
        if moved:
            raise ValueError(
                f"group {moved[0]!r} is named after a check flow, which always evaluates it"
            )
        return {**BUILTIN_ASSIGNMENTS, **value}


class StateConfig(_Model):
    path: Path = Path("state/stackwatch.db")


class LinksConfig(_Model):
    prometheus_url: HttpUrl | None = Field(
        default=None,
        description="Prometheus URL for graph links in mail; defaults to prometheus.url",
    )
    grafana_url: HttpUrl | None = None
    prefect_ui_url: HttpUrl | None = None
    command: str = Field(
        default="stackwatch",
        min_length=1,
        description="the stackwatch command where the mail's reader runs it, for the silence "
        "hint; the Compose stack's: docker compose exec prefect-worker stackwatch",
    )


class PrefectConfig(_Model):
    api_url: HttpUrl | None = Field(
        default=None, description="Prefect API for the daily report; unset: $PREFECT_API_URL"
    )
    api_key: Secret | None = None
    timeout: Timeout = 10.0


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
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

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
        unique_names(value, "service")
        return value

    def collector_enabled(self, name: str) -> bool:
        """Whether a collector runs: its switch in exporter.collectors, else its own section."""
        switches = self.exporter.collectors
        if name in switches:
            return switches[name]
        if name in ("docker", "cgroups"):  # cgroups reads the Docker collector's containers
            return self.docker.enabled
        if name == "kubernetes":
            return self.kubernetes.enabled
        return True
