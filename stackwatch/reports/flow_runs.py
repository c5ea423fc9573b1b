"""Flow-run history as plain data: read from Prefect by the caller (flows/), shown by the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

FAILED_TYPES = ("FAILED", "CRASHED")


@dataclass(frozen=True)
class FlowRunInfo:
    """One flow run: what the report shows of it, and the link to its page in the Prefect UI."""

    id: str
    name: str
    flow_name: str
    state_type: str  # COMPLETED, FAILED, CRASHED, RUNNING...
    state_name: str
    start_time: datetime | None
    url: str


@dataclass(frozen=True)
class FlowRunHistory:
    """The runs that started in the report's window, or why the Prefect API could not say."""

    api_url: str
    runs: tuple[FlowRunInfo, ...] = ()
    error: str | None = None  # the gist of why the API could not be reached
    failure: str | None = None  # the gist of any other reason the runs could not be read
