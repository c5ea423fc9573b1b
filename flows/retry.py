"""Retry policy shared by the flows' network tasks: backoff with jitter, transient errors only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

P = ParamSpec("P")
R = TypeVar("R")

RETRIES = 3
# Seconds before each retry; Prefect adds up to 50 % jitter so runs do not retry in lockstep.
RETRY_DELAYS: list[float] = [5.0, 15.0, 45.0]
RETRY_JITTER = 0.5

RetryCondition = Callable[[Task[..., Any], TaskRun, State[Any]], bool]


def retry_on(*errors: type[BaseException]) -> RetryCondition:
    """A ``retry_condition_fn`` that retries only when the task raised one of ``errors``."""

    def condition(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
        outcome = state.result(raise_on_failure=False)
        return isinstance(outcome, errors)

    condition.__name__ = "retry_on_" + "_or_".join(error.__name__ for error in errors)
    return condition


def network_task(name: str, *errors: type[BaseException]) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A task that retries, with backoff and jitter, only when it raised one of ``errors``."""
    return task(
        name=name,
        retries=RETRIES,
        retry_delay_seconds=RETRY_DELAYS,
        retry_jitter_factor=RETRY_JITTER,
        retry_condition_fn=retry_on(*errors),
        cache_policy=NO_CACHE,
    )
