"""The bounds of template rendering: a wall-clock deadline and a maximum output size for each
rendering, and a time budget for all the annotations of one evaluation.

A template is the rule author's text fed with label values from Prometheus; neither may hold an
evaluation (and the alert database it has locked) for long or fill memory. The rendering sets
the bounds for its thread of work (a context variable); the template functions and the sandbox
check them at every call, so a runaway template ends with a `TemplateLimitError`. Twenty slow
annotations of one second each would still hold an evaluation twenty seconds: inside
``evaluation_budget`` a rendering ends at the budget's end too, and past it each rendering has
``FLOOR_SECONDS``, time enough for a template that is not slow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from alerter.errors import AlerterError
from stackwatch.format import humanize_duration

MAX_SECONDS = 1.0
MAX_CHARS = 64 * 1024
EVALUATION_SECONDS = 10.0  # all the annotations of one evaluation of a group
FLOOR_SECONDS = 0.05  # past the budget: enough for a quick template on a loaded machine


class TemplateLimitError(AlerterError):
    """A rendering passed its deadline or its output size."""


@dataclass(frozen=True)
class Limits:
    """One rendering's bounds; ``budget`` is the evaluation's, when it ends this one early."""

    deadline: float  # time.monotonic()
    seconds: float
    max_chars: int
    budget: float | None = None

    def remaining(self) -> float:
        """Seconds left; raises once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.too_slow()
        return left

    def too_slow(self) -> TemplateLimitError:
        if self.budget is not None:
            return TemplateLimitError(
                "the templates of this evaluation took longer than "
                f"{humanize_duration(self.budget)} in all"
            )
        return TemplateLimitError(f"rendering took longer than {humanize_duration(self.seconds)}")

    def check_size(self, chars: int) -> None:
        if chars > self.max_chars:
            raise TemplateLimitError(f"output longer than {self.max_chars} characters")


@dataclass(frozen=True)
class Budget:
    """The time all the annotations of one evaluation may take together."""

    deadline: float  # time.monotonic()
    seconds: float


_CURRENT: ContextVar[Limits | None] = ContextVar("template_limits", default=None)
_BUDGET: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def current() -> Limits:
    """The bounds of the rendering under way (the defaults from now when there is none)."""
    return _CURRENT.get() or Limits(time.monotonic() + MAX_SECONDS, MAX_SECONDS, MAX_CHARS)


@contextmanager
def bounded(seconds: float = MAX_SECONDS, max_chars: int = MAX_CHARS) -> Iterator[Limits]:
    """Bound the rendering done inside the block (and by the evaluation's budget, if any)."""
    now = time.monotonic()
    limits = Limits(now + seconds, seconds, max_chars)
    budget = _BUDGET.get()
    if budget is not None and budget.deadline < limits.deadline:
        deadline = min(limits.deadline, max(budget.deadline, now + FLOOR_SECONDS))
        limits = Limits(deadline, seconds, max_chars, budget.seconds)
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


@contextmanager
def evaluation_budget(seconds: float | None = None) -> Iterator[Budget]:
    """Share one budget (``EVALUATION_SECONDS`` by default) among the renderings inside."""
    total = EVALUATION_SECONDS if seconds is None else seconds
    budget = Budget(time.monotonic() + total, total)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


@contextmanager
def outside_budget() -> Iterator[None]:
    """Renderings inside have only their own bounds: a label's value is part of the alert's
    identity, which must not change with how slow other templates were."""
    token = _BUDGET.set(None)
    try:
        yield
    finally:
        _BUDGET.reset(token)
