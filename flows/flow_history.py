"""Flow-run history for the daily report, read with Prefect's own client and handed in as data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterId,
    FlowRunFilter,
    FlowRunFilterStartTime,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES
from prefect.settings.context import temporary_settings

from stackwatch.config import Config
from stackwatch.format import short_reason
from stackwatch.links import api_url, run_url, ui_url
from stackwatch.reports.daily import DailyReport, build_daily_report, window
from stackwatch.reports.flow_runs import FlowRunHistory, FlowRunInfo

log = logging.getLogger(__name__)

PAGE_SIZE = 200  # the server's default maximum for one filter call
MAX_RUNS = 10_000


def _runs(client: SyncPrefectClient, since: datetime, until: datetime) -> list[FlowRun]:
    between = FlowRunFilterStartTime.model_validate({"after_": since, "before_": until})
    when = FlowRunFilter(start_time=between)
    runs: list[FlowRun] = []
    while len(runs) < MAX_RUNS:
        page = client.read_flow_runs(
            flow_run_filter=when,
            sort=FlowRunSort.START_TIME_DESC,
            limit=PAGE_SIZE,
            offset=len(runs),
        )
        runs += page
        if len(page) < PAGE_SIZE:
            break
    return runs


def _flow_names(client: SyncPrefectClient, ids: set[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    flows = client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=sorted(ids))))
    return {flow.id: flow.name for flow in flows}


def _info(run: FlowRun, flow_name: str, ui: str) -> FlowRunInfo:
    state = run.state
    start = run.start_time
    return FlowRunInfo(
        id=str(run.id),
        name=run.name,
        flow_name=flow_name,
        state_type=str(run.state_type.value if run.state_type else "UNKNOWN"),
        state_name=run.state_name or (state.name if state else "") or "Unknown",
        start_time=datetime.fromtimestamp(start.timestamp(), tz=UTC) if start else None,
        url=run_url(ui, str(run.id)),
    )


def read_flow_runs(config: Config, since: datetime, until: datetime) -> FlowRunHistory | None:
    """Flow runs that started in ``[since, until]``, newest first; None when Prefect is not set.

    The API is ``prefect.api_url``, else ``$PREFECT_API_URL``; it is asked once, within
    ``prefect.timeout`` (no client retries); a failure is recorded in the history.
    """
    url = api_url(config)
    if url is None:
        return None
    try:
        key = config.prefect.api_key.get() if config.prefect.api_key else None
        settings = {PREFECT_API_URL: url, PREFECT_API_KEY: key, PREFECT_CLIENT_MAX_RETRIES: 0}
        with (
            temporary_settings(updates=settings),
            get_client(httpx_settings={"timeout": config.prefect.timeout}, sync_client=True) as c,
        ):
            runs = _runs(c, since, until)
            names = _flow_names(c, {run.flow_id for run in runs})
    except httpx.HTTPError as exc:
        return FlowRunHistory(url, error=short_reason(exc))
    except Exception as exc:  # an unreadable key or answer: the section says so, the report goes on
        log.exception("reading the flow-run history from %s failed", url)
        return FlowRunHistory(url, failure=short_reason(exc))
    ui = ui_url(config, url)
    return FlowRunHistory(
        url, tuple(_info(run, names.get(run.flow_id, str(run.flow_id)), ui) for run in runs)
    )


def daily_report(config: Config, *, now: datetime | None = None) -> DailyReport:
    """The daily report, with the flow runs of its window read from Prefect."""
    now = now or datetime.now(tz=UTC)
    return build_daily_report(config, flow_runs=read_flow_runs(config, *window(now)), now=now)
