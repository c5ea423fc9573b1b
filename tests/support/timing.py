"""Wall-clock ceilings for tests, scaled by ``STACKWATCH_TEST_SLOWDOWN`` on slow or busy machines.

A test that asserts "answers within 1 s" writes ``within(1.0)``; CI on a loaded 2-core machine
can set ``STACKWATCH_TEST_SLOWDOWN=3`` instead of the test flaking.
"""

from __future__ import annotations

import os

ENV = "STACKWATCH_TEST_SLOWDOWN"


def slowdown() -> float:
    """The factor from the environment (default 1); a bad value is an error, not ignored."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        raise ValueError(f"{ENV}={raw!r}: must be a number such as 2") from None
    if factor < 1:
        raise ValueError(f"{ENV}={raw!r}: must be at least 1")
    return factor


def within(seconds: float) -> float:
    """A ceiling of ``seconds``, scaled by the slowdown factor."""
    return seconds * slowdown()
