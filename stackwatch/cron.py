"""The shortest time between two runs of a five-field cron schedule (UTC), without Prefect.

Numbers, ``*``, ranges ``a-b``, steps ``/n`` and lists; no names (``MON``, ``JAN``). Day of
month and day of week follow cron: when both are restricted, a day matching either runs.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from itertools import pairwise

# name, lowest, highest of each field
FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
# Four years from a leap year: every combination of weekday, month length and leap day.
SPAN_START = date(2024, 1, 1)
SPAN_DAYS = 4 * 365 + 1 + 7


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit():
        raise ValueError(f"{name}: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is not in {low}-{high}")
    return value


def parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    """The values one cron field allows, e.g. ``*/15`` in minutes: {0, 15, 30, 45}."""
    values: set[int] = set()
    for item in text.split(","):
        spread, _, step_text = item.partition("/")
        step = _number(step_text, name, 1, high - low + 1) if step_text else 1
        if spread == "*":
            first, last = low, high
        elif "-" in spread:
            a, _, b = spread.partition("-")
            first, last = _number(a, name, low, high), _number(b, name, low, high)
        else:
            first = _number(spread, name, low, high)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@functools.lru_cache(maxsize=256)
def shortest_interval(cron: str) -> float:
    """Seconds between the two closest runs of ``cron``; ``ValueError`` naming the field.
    Remembered per schedule: the scan of a year of days is a scrape's cost otherwise."""
    fields = cron.split()
    if len(fields) != len(FIELDS):
        raise ValueError(f"{cron!r}: a cron schedule has five fields")
    minutes, hours, days, months, weekdays = (
        parse_field(text, *spec) for text, spec in zip(fields, FIELDS, strict=True)
    )
    weekdays = frozenset(d % 7 for d in weekdays)  # 7 is Sunday, as 0
    any_day, any_weekday = fields[2] == "*", fields[4] == "*"

    def runs_on(day: date) -> bool:
        if day.month not in months:
            return False
        in_month, in_week = day.day in days, (day.weekday() + 1) % 7 in weekdays
        if any_day or any_weekday:
            return in_month and in_week
        return in_month or in_week

    times = sorted(h * 60 + m for h in hours for m in minutes)  # minutes of the day
    run_days = [n for n in range(SPAN_DAYS) if runs_on(SPAN_START + timedelta(days=n))]
    if len(run_days) < 2:
        raise ValueError(f"{cron!r}: never runs, or runs once")
    gaps = [b - a for a, b in pairwise(times)]
    gaps += [(b - a) * 1440 - times[-1] + times[0] for a, b in pairwise(run_days)]
    return float(min(gaps) * 60)
