"""Flow runs a flow runner or worker left in flight when it died: ended before it starts again,
so the flows they belong to run again at once.

Each deployment runs one flow run at a time (the catalogue's limit, new runs cancelled while one
is going). A run holds that slot from Pending on, and its own process renews a lease on it. When
the runner dies mid-run (SIGKILL, out of memory, power lost) the run's process goes with it and
nothing ends the run: it stays Running, and its slot stays taken until the lease runs out, five
minutes later, or for ever when the Prefect server started again meanwhile, since the server keeps
its leases in memory and its slots in its database. Every later run of that flow is cancelled.

``make run``'s launcher runs the only runner of its own Prefect server, and the Compose stack's
worker container the only worker of its work pool. So before that runner or worker starts, a run
of theirs in flight with no process left on this machine (this container) is one left behind: it
is marked Crashed (one being cancelled, Cancelled), which frees the slot.

``python -m flows.orphans [--work-pool NAME]`` does it for the server at ``PREFECT_API_URL``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests

#: the state types in which a run holds its deployment's slot
IN_FLIGHT = ("PENDING", "RUNNING", "CANCELLING")
#: what the runner puts in the environment of each flow run's process
RUN_ID_VARIABLE = b"PREFECT__FLOW_RUN_ID="


def live_flow_runs(proc: Path = Path("/proc")) -> set[str]:
    """The IDs of the flow runs that have a process on this machine."""
    found: set[str] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()  # empty for a zombie
        except OSError:  # gone meanwhile, or another user's
            continue
        for variable in environ.split(b"\0"):
            if variable.startswith(RUN_ID_VARIABLE):
                found.add(variable[len(RUN_ID_VARIABLE) :].decode(errors="replace"))
    return found


def end_orphaned_runs(
    api_url: str,
    work_pool: str | None = None,
    live: Callable[[], set[str]] = live_flow_runs,
    timeout: float = 10.0,
) -> list[str]:
    """End each deployment's run in flight on the Prefect server at ``api_url`` (of the
    deployments in ``work_pool`` only, when given) that has no process on this machine; what was
    done, a line each, for the caller to say."""
    query: dict[str, Any] = {
        "flow_runs": {
            "state": {"type": {"any_": list(IN_FLIGHT)}},
            "deployment_id": {"is_null_": False},
        },
        "sort": "EXPECTED_START_TIME_ASC",
    }
    if work_pool is not None:
        query["work_pools"] = {"name": {"any_": [work_pool]}}
    try:
        response = requests.post(f"{api_url}/flow_runs/filter", json=query, timeout=timeout)
        response.raise_for_status()
        runs: list[dict[str, Any]] = response.json()
    except (requests.RequestException, ValueError) as exc:
        return [f"could not look for flow runs left in flight by the last runner: {exc}"]
    if not runs:
        return []
    alive = live()
    return [end_run(api_url, run, timeout) for run in runs if run["id"] not in alive]


def end_run(api_url: str, run: dict[str, Any], timeout: float) -> str:
    """Mark one run whose process is gone Crashed (Cancelled when it was being cancelled)."""
    was = str(run["state_name"] or run["state_type"]).lower()
    cancelling = run["state_type"] == "CANCELLING"
    state = {
        "type": "CANCELLED" if cancelling else "CRASHED",
        "name": "Cancelled" if cancelling else "Crashed",
        "message": f"Its flow runner or worker died while it was {was}; no process of it was left.",
    }
    what = f"flow run {run['name']} ({run['id']}), {was} when its flow runner or worker died"
    try:
        response = requests.post(
            f"{api_url}/flow_runs/{run['id']}/set_state",
            json={"state": state, "force": False},
            timeout=timeout,
        )
        response.raise_for_status()
        status = response.json().get("status")
    except (requests.RequestException, ValueError) as exc:
        return f"could not end {what}: {exc}"
    if status != "ACCEPT":
        return f"{what}: the Prefect server did not let it end ({status})"
    return f"{what}: marked {state['name']}, so its flow runs again"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.orphans",
        description="End the flow runs left in flight by a flow runner or worker that died, "
        "before it starts again: each run of a deployment that is Pending, Running or "
        "Cancelling with no process left on this machine is marked Crashed (Cancelled), "
        "which frees its deployment's one-run-at-a-time slot. Run it only where the one "
        "runner or worker of those deployments runs, just before it starts.",
    )
    parser.add_argument(
        "--work-pool", metavar="NAME", help="only the runs of the deployments in this work pool"
    )
    args = parser.parse_args(argv)
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        print("stackwatch: PREFECT_API_URL is not set: no Prefect server to ask", file=sys.stderr)  # noqa: T201
        return 2
    for line in end_orphaned_runs(api_url.rstrip("/"), args.work_pool):
        print(line, flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
