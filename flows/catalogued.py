"""The ``@flow`` decorator for a catalogue entry: name, description and failure mail from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Flow, flow

from flows.hooks import notify_failure, notify_recovery, record_completion, record_failure
from flows.schedules import run_timeout
from stackwatch.catalog import FLOWS, FlowSpec

P = ParamSpec("P")
R = TypeVar("R")


def spec_of(function: Callable[..., Any]) -> FlowSpec:
    """The catalogue entry whose entry point is ``function``.

    Matched on the function's name: Prefect loads an entry point's file under a module name of
    its own choosing, so ``__module__`` cannot be relied on.
    """
    found = [spec for spec in FLOWS if spec.function == function.__name__]
    if len(found) != 1:
        raise LookupError(f"{function.__name__}: {len(found)} catalogue entries name it")
    return found[0]


def catalogued_flow() -> Callable[[Callable[P, R]], Flow[P, R]]:
    """A flow named and described by its catalogue entry; one that mails gets the failure mail
    (once per failing streak, see ``flows.hooks``) and, on completion, the recovered mail.

    Its run timeout is well under the time between two runs (the entry's ``run_timeout``, or
    that of the schedule ``flows.serve --schedule`` put in its place): a run that hangs ends
    Failed (and is mailed) instead of having every later run cancelled.
    """

    def decorate(function: Callable[P, R]) -> Flow[P, R]:
        spec = spec_of(function)
        return flow(
            name=spec.name,
            description=spec.description,
            timeout_seconds=run_timeout(spec),
            # a flow that mails nothing still records its runs and pings the heartbeat
            on_failure=[notify_failure if spec.mails else record_failure],
            on_crashed=[notify_failure if spec.mails else record_failure],
            on_completion=[notify_recovery if spec.mails else record_completion],
        )(function)

    return decorate
