"""The bounds of one template rendering: a wall-clock deadline and a maximum output size.

A template is the rule author's text fed with label values from Prometheus; neither may hold an
evaluation (and the alert database it has locked) for long or fill memory. The rendering sets
the bounds for its thread of work (a context variable); the template functions and the sandbox
check them at every call, so a runaway template ends with a `TemplateLimitError`.
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


class TemplateLimitError(AlerterError):
    """A rendering passed its deadline or its output size."""


@dataclass(frozen=True)
class Limits:
    deadline: float  # time.monotonic()
    seconds: float
    max_chars: int

    def remaining(self) -> float:
        """Seconds left; raises once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.too_slow()
        return left

    def too_slow(self) -> TemplateLimitError:
        return TemplateLimitError(f"rendering took longer than {humanize_duration(self.seconds)}")

    def check_size(self, chars: int) -> None:
        if chars > self.max_chars:
            raise TemplateLimitError(f"output longer than {self.max_chars} characters")


_CURRENT: ContextVar[Limits | None] = ContextVar("template_limits", default=None)


def current() -> Limits:
    """The bounds of the rendering under way (the defaults from now when there is none)."""
    return _CURRENT.get() or Limits(time.monotonic() + MAX_SECONDS, MAX_SECONDS, MAX_CHARS)


@contextmanager
def bounded(seconds: float = MAX_SECONDS, max_chars: int = MAX_CHARS) -> Iterator[Limits]:
    """Bound the rendering done inside the block."""
    limits = Limits(time.monotonic() + seconds, seconds, max_chars)
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)
