"""Flow-run history from Prefect's REST API over ``requests``: reports never import Prefect."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from stackwatch import __version__
from stackwatch.config import Config
from stackwatch.errors import StackwatchError
from stackwatch.links import api_url, run_url

PAGE_SIZE = 200  # the server's default maximum for one filter call
MAX_RUNS = 10_000
FAILED_TYPES = ("FAILED", "CRASHED")


class PrefectApiError(StackwatchError):
    """The Prefect API could not be reached or answered with an error."""


@dataclass(frozen=True)
class FlowRunInfo:
    id: str
    name: str
    flow_id: str
    flow_name: str
    state_type: str
    state_name: str
    start_time: datetime | None
    url: str


@dataclass(frozen=True)
class FlowSummary:
    flow: str
    completed: int
    failed: int
    crashed: int
    other: int

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.crashed + self.other


def _time(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None


class PrefectApi:
    """The two filter endpoints the report needs, over one session with a timeout."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        api_key: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"stackwatch/{__version__}"
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    @classmethod
    def from_config(cls, config: Config) -> PrefectApi | None:
        url = api_url(config)
        if url is None:
            return None
        key = config.prefect.api_key.get() if config.prefect.api_key else None
        return cls(url, timeout=config.prefect.timeout, api_key=key)

    def close(self) -> None:
        self.session.close()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = self.session.post(f"{self.url}{path}", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PrefectApiError(f"Prefect API at {self.url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise PrefectApiError(
                f"Prefect API {path} answered {response.status_code}: {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise PrefectApiError(f"Prefect API {path} did not answer JSON") from exc

    def _flow_runs(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        offset = 0
        while offset < MAX_RUNS:
            page = self._post(
                "/flow_runs/filter",
                {
                    "flow_runs": {
                        "start_time": {"after_": since.isoformat(), "before_": until.isoformat()}
                    },
                    "sort": "START_TIME_DESC",
                    "limit": PAGE_SIZE,
                    "offset": offset,
                },
            )
            if not isinstance(page, list):
                raise PrefectApiError("Prefect API /flow_runs/filter did not answer a list")
            yield from page
            if len(page) < PAGE_SIZE:
                return
            offset += PAGE_SIZE

    def flow_names(self, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        flows = self._post(
            "/flows/filter", {"flows": {"id": {"any_": sorted(ids)}}, "limit": PAGE_SIZE}
        )
        return {str(f["id"]): str(f["name"]) for f in flows}

    def flow_runs(self, since: datetime, until: datetime, ui: str) -> list[FlowRunInfo]:
        """Flow runs that started in ``[since, until]``, newest first, with their flows' names."""
        raw = list(self._flow_runs(since, until))
        names = self.flow_names({str(r["flow_id"]) for r in raw})
        runs = []
        for item in raw:
            state = item.get("state") or {}
            runs.append(
                FlowRunInfo(
                    id=str(item["id"]),
                    name=str(item.get("name", "")),
                    flow_id=str(item["flow_id"]),
                    flow_name=names.get(str(item["flow_id"]), str(item["flow_id"])),
                    state_type=str(item.get("state_type") or state.get("type") or "UNKNOWN"),
                    state_name=str(item.get("state_name") or state.get("name") or "Unknown"),
                    start_time=_time(item.get("start_time")),
                    url=run_url(ui, str(item["id"])),
                )
            )
        return runs


def summarize(runs: list[FlowRunInfo]) -> list[FlowSummary]:
    """Per flow: completed, failed, crashed and other (running, cancelled...) counts."""
    counts: dict[str, list[int]] = {}
    for run in runs:
        row = counts.setdefault(run.flow_name, [0, 0, 0, 0])
        index = {"COMPLETED": 0, "FAILED": 1, "CRASHED": 2}.get(run.state_type, 3)
        row[index] += 1
    return [FlowSummary(flow, *row) for flow, row in sorted(counts.items())]
