"""prefect.yaml, read by Prefect's own loader, deploys the seven flows as the issue specifies."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.cli.deploy._config import _load_deploy_configs_and_actions
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.templating import apply_values
from rich.console import Console

from stackwatch.catalog import (
    COLLISION_STRATEGY,
    CONCURRENCY_LIMIT,
    FLOWS,
    TIMEZONE,
    WORK_POOL,
)

REPO = Path(__file__).resolve().parent.parent

EXPECTED_SCHEDULES = {
    "system-health-check": "*/5 * * * *",
    "services-health-check": "*/10 * * * *",
    "threshold-alert-check": "*/15 * * * *",
    "docker-restart-monitor": "*/10 * * * *",
    "k8s-health-check": "*/15 * * * *",
    "daily-summary-report": "0 6 * * *",
    "weekly-cleanup-report": "0 2 * * 0",
}


@pytest.fixture(scope="module")
def loaded() -> tuple[list[dict], dict]:
    console = Console(record=True)
    deployments, actions = _load_deploy_configs_and_actions(REPO / "prefect.yaml", console=console)
    assert "Skipping" not in console.export_text(), console.export_text()
    return deployments, actions


def test_seven_deployments_with_exact_utc_schedules(loaded: tuple[list[dict], dict]) -> None:
    deployments, _ = loaded
    schedules = {}
    for deployment in deployments:
        [schedule] = deployment["schedules"]
        assert schedule["timezone"] == "UTC"
        schedules[deployment["name"]] = schedule["cron"]
    assert schedules == EXPECTED_SCHEDULES


def test_one_run_at_a_time_on_the_stackwatch_process_pool(loaded: tuple[list[dict], dict]) -> None:
    deployments, _ = loaded
    for deployment in deployments:
        assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        assert deployment["work_pool"]["name"] == "stackwatch"
        assert "stackwatch" in deployment["tags"]


def test_entrypoints_load_the_flow_of_the_same_name(loaded: tuple[list[dict], dict]) -> None:
    deployments, _ = loaded
    for deployment in deployments:
        flow = load_flow_from_entrypoint(
            str(REPO / deployment["entrypoint"]), use_placeholder_flow=False
        )
        assert flow.name == deployment["name"]


def test_pull_step_runs_from_the_directory_in_stackwatch_home(
    loaded: tuple[list[dict], dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, actions = loaded
    [step] = actions["pull"]
    monkeypatch.setenv("STACKWATCH_HOME", "/srv/stackwatch")
    resolved = apply_values(step, {})
    assert resolved == {
        "prefect.deployments.steps.set_working_directory": {"directory": "/srv/stackwatch"}
    }


def test_served_deployments_match_prefect_yaml(loaded: tuple[list[dict], dict]) -> None:
    """`make run` serves the same flows on the same schedules as a worker would run them."""
    deployments, _ = loaded
    from_yaml = {d["name"]: (d["entrypoint"], d["schedules"][0]["cron"]) for d in deployments}
    assert from_yaml == {spec.name: (spec.entrypoint, spec.cron) for spec in FLOWS}


def test_deployments_are_the_catalogue_exactly(loaded: tuple[list[dict], dict]) -> None:
    """prefect.yaml repeats the catalogue for `prefect deploy`: every key, in catalogue order."""
    deployments, _ = loaded
    assert deployments == [
        {
            "name": spec.name,
            "entrypoint": spec.entrypoint,
            "description": spec.description,
            "tags": spec.tags,
            "schedules": [{"cron": spec.cron, "timezone": TIMEZONE}],
            "concurrency_limit": {
                "limit": CONCURRENCY_LIMIT,
                "collision_strategy": COLLISION_STRATEGY,
            },
            "work_pool": {"name": WORK_POOL, "work_queue_name": "default", "job_variables": {}},
        }
        for spec in FLOWS
    ]
