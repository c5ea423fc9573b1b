"""What tests read back from the session's Prefect server (the ``prefect_api`` fixture)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State


def artifacts_of(state: State[Any]) -> dict[str, str]:
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    return {artifact.key or "": str(artifact.data) for artifact in found}


def task_runs_of(state: State[Any]) -> dict[str, int]:
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    return {run.name.rsplit("-", 1)[0]: run.run_count for run in runs}


def flow_run_ids() -> set[Any]:
    ids: set[Any] = set()
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_flow_runs(offset=len(ids), limit=200)
            ids.update(run.id for run in page)
            if len(page) < 200:
                return ids


def delete_flow_runs(run_ids: Iterable[Any]) -> None:
    with get_client(sync_client=True) as client:
        for run_id in run_ids:
            client.delete_flow_run(run_id)
