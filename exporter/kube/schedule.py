"""The next run of a CronJob's schedule after a moment, as robfig/cron (which KSM uses) finds it.

Five fields with numbers, names (``MON``, ``JAN``), ``*``/``?``, ranges, steps and lists, and the
``@hourly``-style descriptors; in the CronJob's ``timeZone`` (UTC when unset). Day of month and
day of week follow cron: when both are restricted, a day matching either runs.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from stackwatch.cron import FIELDS, parse_field

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# robfig/cron gives up after five years without a match
HORIZON_DAYS = 5 * 366


def _names(text: str, names: tuple[str, ...], first: int) -> str:
    def number(match: re.Match[str]) -> str:
        return str(names.index(match.group(0).upper()) + first)

    pattern = "|".join(names)
    return re.sub(pattern, number, text, flags=re.IGNORECASE)


def next_run(schedule: str, after: datetime, zone: str | None = None) -> datetime:
    """The first run strictly after ``after`` (aware); ``ValueError`` for a bad schedule."""
    text = DESCRIPTORS.get(schedule.strip(), schedule)
    fields = text.split()
    if len(fields) != len(FIELDS):
        raise ValueError(f"{schedule!r}: a cron schedule has five fields")
    fields[3] = _names(fields[3], MONTHS, 1)
    fields[4] = _names(fields[4], WEEKDAYS, 0)
    star_day, star_weekday = fields[2] in ("*", "?"), fields[4] in ("*", "?")
    fields = ["*" if f == "?" else f for f in fields]
    minutes, hours, days, months, weekdays = (
        parse_field(f, *spec) for f, spec in zip(fields, FIELDS, strict=True)
    )
    weekdays = frozenset(d % 7 for d in weekdays)
    local = after.astimezone(ZoneInfo(zone or "UTC"))
    start = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(HORIZON_DAYS):
        in_month, in_week = day.day in days, (day.weekday() + 1) % 7 in weekdays
        matches = in_month and in_week if star_day or star_weekday else in_month or in_week
        if day.month in months and matches:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day = (day + timedelta(days=1)).replace(hour=0, minute=0)
    raise ValueError(f"{schedule!r}: no run within five years")
