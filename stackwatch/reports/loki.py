"""Truncate old Loki data through Loki's own delete API, never by removing chunk files.

The index that references the chunks lives beside them, so deleting files leaves queries
pointing at missing chunks. Instead a delete request covers everything matching the selector up
to now minus the retention, sent to the endpoint of the running version (its build info tells):
``/loki/api/admin/delete`` up to 2.5, ``/loki/api/v1/delete`` from 2.6. The compactor
carries it out (after its cancellation period) only when retention is on, which ``GET /config``
tells, and the report warns when it is not.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import yaml

from stackwatch import __version__
from stackwatch.config import LokiCleanupConfig, parse_duration
from stackwatch.errors import StackwatchError
from stackwatch.format import format_duration, stamp

BUILDINFO_PATH = "/loki/api/v1/status/buildinfo"
ADMIN_DELETE_PATH = "/loki/api/admin/delete"  # Loki 2.3 to 2.5
V1_DELETE_PATH = "/loki/api/v1/delete"  # Loki 2.6 on


def delete_endpoint(version: str) -> tuple[str, str]:
    """The delete endpoint of a Loki version and its selector parameter.

    Up to 2.5 the compactor's endpoint is ``/loki/api/admin/delete`` taking ``match[]``; from
    2.6 it is ``/loki/api/v1/delete`` taking ``query``. A build not named by a release (``main-…``,
    ``k123-…``) is taken for a recent one. Before 2.3 there is no delete API at all.
    """
    match = re.match(r"v?(\d+)\.(\d+)", version)
    release = (int(match.group(1)), int(match.group(2))) if match else None
    if release is not None and release < (2, 3):
        raise LokiError(f"Loki {version} has no delete API: the cleanup needs Loki 2.3 or later")
    if release is not None and release < (2, 6):
        return ADMIN_DELETE_PATH, "match[]"
    return V1_DELETE_PATH, "query"


class LokiError(StackwatchError):
    """Loki could not be reached or refused a request."""


@dataclass(frozen=True)
class RetentionStatus:
    """What Loki's running config says about retention and deletion."""

    retention_enabled: bool
    deletion_mode: str
    retention_period: float
    delete_request_cancel_period: float | None

    @property
    def warnings(self) -> list[str]:
        out = []
        if not self.retention_enabled:
            out.append(
                "Loki compactor retention is OFF: delete requests are accepted but never "
                "carried out, and old data is never removed. Set compactor.retention_enabled: "
                "true (and compactor.delete_request_store)."
            )
        if self.deletion_mode == "disabled":
            out.append(
                "Loki log deletion is disabled (deletion_mode: disabled): set it "
                "to filter-and-delete."
            )
        elif self.deletion_mode == "filter-only":
            out.append(
                "Loki deletion_mode is filter-only: deleted lines are hidden from queries but "
                "stay on disk. Set limits_config.deletion_mode: filter-and-delete to free space."
            )
        return out


def _duration(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(str(value).strip())
    except ValueError:
        return None


def parse_loki_config(text: str) -> RetentionStatus:
    """Read retention and deletion settings from ``GET /config`` (YAML)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LokiError(f"GET /config did not answer YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise LokiError("GET /config did not answer a YAML mapping")
    compactor = data.get("compactor") or {}
    limits = data.get("limits_config") or {}
    return RetentionStatus(
        retention_enabled=bool(compactor.get("retention_enabled", False)),
        # per tenant in limits_config from 2.6; in 2.5 the compactor's own setting
        deletion_mode=str(
            limits.get("deletion_mode") or compactor.get("deletion_mode") or "filter-and-delete"
        ),
        retention_period=_duration(limits.get("retention_period")) or 0.0,
        delete_request_cancel_period=_duration(compactor.get("delete_request_cancel_period")),
    )


def folder_size(path: Path) -> int:
    """Bytes in files under ``path`` (symlinks not followed, vanished files skipped)."""
    total = 0
    stack = [path]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


@dataclass
class LokiResult:
    selector: str
    end: datetime
    status: RetentionStatus | None = None
    requested: bool = False
    chunks_before: int | None = None
    chunks_after: int | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        if self.chunks_before is None or self.chunks_after is None:
            return 0
        return max(0, self.chunks_before - self.chunks_after)


class LokiClient:
    def __init__(self, config: LokiCleanupConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.base_url = config.url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"stackwatch/{__version__}"
        if config.org_id:
            self.session.headers["X-Scope-OrgID"] = config.org_id

    def close(self) -> None:
        self.session.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(
                method, f"{self.base_url}{path}", timeout=self.config.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise LokiError(f"Loki at {self.base_url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise LokiError(
                f"{method} {path} answered {response.status_code}: {response.text.strip()[:200]}"
            )
        return response

    def retention(self) -> RetentionStatus:
        return parse_loki_config(self._request("GET", "/config").text)

    def version(self) -> str:
        """The running version, from the build info every Loki since 2.4 serves."""
        try:
            response = self.session.get(
                f"{self.base_url}{BUILDINFO_PATH}", timeout=self.config.timeout
            )
        except requests.RequestException as exc:
            raise LokiError(f"Loki at {self.base_url} unreachable: {exc}") from exc
        if response.status_code == 404:
            raise LokiError(
                f"GET {BUILDINFO_PATH} answered 404: is {self.base_url} Loki? The cleanup's "
                "delete requests need Loki 2.3 or later"
            )
        if response.status_code >= 400:
            raise LokiError(f"GET {BUILDINFO_PATH} answered {response.status_code}")
        try:
            version = response.json().get("version")
        except (ValueError, AttributeError):
            version = None
        if not isinstance(version, str) or not version:
            raise LokiError(f"GET {BUILDINFO_PATH} did not answer a version")
        return version

    def request_delete(self, endpoint: tuple[str, str], selector: str, end: datetime) -> None:
        path, selector_param = endpoint
        self._request(
            "POST",
            path,
            params={selector_param: selector, "start": "0", "end": str(int(end.timestamp()))},
        )


def truncate_old_data(
    config: LokiCleanupConfig,
    *,
    now: datetime,
    dry_run: bool = False,
    session: requests.Session | None = None,
) -> LokiResult:
    """Check retention, then ask Loki to delete data older than the retention (unless dry run)."""
    end = datetime.fromtimestamp(int(now.timestamp() - config.retention), tz=now.tzinfo)
    result = LokiResult(config.selector, end)
    if config.chunks_dir is not None and config.chunks_dir.is_dir():
        result.chunks_before = folder_size(config.chunks_dir)
    client = LokiClient(config, session)
    try:
        version = client.version()
        endpoint = delete_endpoint(version)
        result.notes.append(f"Loki {version}: delete requests go to {endpoint[0]}.")
        status = client.retention()
        result.status = status
        result.warnings.extend(status.warnings)
        if status.retention_period:
            result.notes.append(
                f"Loki's own retention_period is {format_duration(status.retention_period)}."
            )
        if dry_run:
            result.notes.append(f"Would request deletion of {config.selector} up to {stamp(end)}.")
        else:
            client.request_delete(endpoint, config.selector, end)
            result.requested = True
            wait = status.delete_request_cancel_period
            result.notes.append(
                f"Requested deletion of {config.selector} up to {stamp(end)}; "
                "the compactor carries it out after its cancellation period"
                + (f" ({format_duration(wait)})." if wait else ".")
            )
    finally:
        client.close()
        if config.chunks_dir is not None and config.chunks_dir.is_dir():
            result.chunks_after = folder_size(config.chunks_dir)
    return result
