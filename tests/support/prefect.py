"""One Prefect test server for the whole session, shared by every module that asks for it.

Start-up takes 16-20 s here, so modules share it: each module's session fixture takes a
reference and the last one released stops the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

_stack: ExitStack | None = None
_users = 0


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """The API URL of a real Prefect server (``prefect_test_harness``) on a temp SQLite DB."""
    global _stack, _users
    if _stack is None:
        stack = ExitStack()
        stack.enter_context(prefect_test_harness(server_startup_timeout=120))
        _stack = stack
    _users += 1
    try:
        yield str(PREFECT_API_URL.value())
    finally:
        _users -= 1
        if _users == 0 and _stack is not None:
            _stack.close()
            _stack = None


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


def _flow_run_ids() -> set[Any]:
    ids: set[Any] = set()
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_flow_runs(offset=len(ids), limit=200)
            ids.update(run.id for run in page)
            if len(page) < 200:
                return ids


@pytest.fixture(scope="module")
def own_flow_runs(prefect_api: str) -> Iterator[None]:
    """Delete the flow runs a module created, so the modules sharing the server (a report that
    counts the day's runs, say) see only their own."""
    before = _flow_run_ids()
    yield
    with get_client(sync_client=True) as client:
        for run_id in _flow_run_ids() - before:
            client.delete_flow_run(run_id)
