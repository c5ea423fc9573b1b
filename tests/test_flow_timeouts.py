"""A run's timeout follows the schedule it actually runs on, and always leaves room for a mail.

``flows.serve --schedule NAME=SPEC`` (what the launcher's ``--schedule`` passes on) replaces a
schedule; Prefect's runner starts each run in a fresh ``python -m prefect.engine`` with the
serving process's environment, which imports the flow anew. The subprocess here does the same.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import flows.serve
from flows.schedules import OVERRIDES_ENV
from stackwatch.catalog import BY_NAME
from stackwatch.config import ConfigValidationError, parse_config
from tests.support.procs import run_python

ROOT = Path(__file__).resolve().parent.parent

TIMEOUTS = (
    "from flows.checks import services_health_check, k8s_health_check, threshold_alert_check\n"
    "print(services_health_check.timeout_seconds, k8s_health_check.timeout_seconds,"
    " threshold_alert_check.timeout_seconds)"
)


def served_environment(monkeypatch: pytest.MonkeyPatch, *schedules: str) -> dict[str, str]:
    """The environment ``flows.serve`` hands its runs, with these ``--schedule`` options."""
    monkeypatch.delenv(OVERRIDES_ENV, raising=False)  # restored after the test
    seen: dict[str, str] = {}

    def serve(*deployments: Any, **options: Any) -> None:
        seen.update(os.environ)

    monkeypatch.setattr(flows.serve, "serve", serve)
    argv = [arg for item in schedules for arg in ("--schedule", item)]
    assert flows.serve.main(argv) == 0
    return {k: v for k, v in seen.items() if k == OVERRIDES_ENV}


def run_timeouts(env: dict[str, str]) -> list[float]:
    result = run_python(["-c", TIMEOUTS], path=[ROOT], cwd=ROOT, **env)
    assert result.returncode == 0, result.stderr
    return [float(word) for word in result.stdout.split()]


def test_a_schedule_override_sets_the_run_timeout_of_served_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = served_environment(
        monkeypatch, "services-health-check=30s", "k8s-health-check=*/2 * * * *"
    )
    # half the overridden interval; the flow not overridden keeps its catalogue timeout
    assert run_timeouts(env) == [15.0, 60.0, BY_NAME["threshold-alert-check"].run_timeout]


def test_without_overrides_the_catalogue_timeouts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDES_ENV, "services-health-check=30s")  # left from a parent: dropped
    env = served_environment(monkeypatch)
    names = ("services-health-check", "k8s-health-check", "threshold-alert-check")
    assert run_timeouts(env) == [BY_NAME[name].run_timeout for name in names]


def test_a_data_timeout_that_leaves_no_room_in_a_run_is_refused() -> None:
    shortest = min(spec.run_timeout for spec in BY_NAME.values() if spec.mails)
    with pytest.raises(ConfigValidationError) as caught:
        parse_config("smtp:\n  host: mail.example.org\n  data_timeout: 5m\n", "stackwatch.yml")
    assert str(caught.value) == (
        "stackwatch.yml:3: smtp.data_timeout: must be at most 2m30s, half the shortest run "
        f"timeout of a flow that mails ({shortest:g}s), so that a run stopped at its timeout "
        "is never in the middle of a mail"
    )


def test_the_default_data_timeout_leaves_room_in_every_run() -> None:
    config = parse_config("smtp:\n  host: mail.example.org\n", "stackwatch.yml")
    shortest = min(spec.run_timeout for spec in BY_NAME.values() if spec.mails)
    assert config.smtp.data_timeout <= shortest / 2
