"""The next run of a CronJob schedule, as KSM computes kube_cronjob_next_schedule_time.

robfig/cron semantics: names, descriptors, the CronJob's time zone, cron's day rule.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exporter.kube.families import cores, quota_value, resource_values, whole
from exporter.kube.schedule import next_run


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "after", "zone", "expected"),
    [
        # strictly after: a run at the very moment does not count
        ("0 2 * * *", "2026-11-27T02:00:00", None, "2026-11-28T02:00:00"),
        ("*/15 * * * *", "2026-11-27T10:07:30", None, "2026-11-27T10:15:00"),
        ("*/15 * * * *", "2026-11-27T23:59:59", None, "2026-11-28T00:00:00"),
        # 2026-11-27 is a Friday: weekdays by name skip the weekend
        ("0 */6 * * MON-FRI", "2026-11-27T19:00:00", None, "2026-11-30T00:00:00"),
        ("0 */6 * * mon-fri", "2026-11-27T02:00:00", None, "2026-11-27T06:00:00"),
        # in the CronJob's time zone: Berlin is UTC+1 in November
        ("0 */6 * * MON-FRI", "2026-11-27T02:00:00", "Europe/Berlin", "2026-11-27T05:00:00"),
        ("0 */6 * * MON-FRI", "2026-11-27T23:00:00", "Europe/Berlin", "2026-11-29T23:00:00"),
        # descriptors; @weekly is Sunday midnight
        ("@weekly", "2026-11-20T10:30:45", None, "2026-11-22T00:00:00"),
        ("@hourly", "2026-11-20T10:30:45", None, "2026-11-20T11:00:00"),
        ("@monthly", "2026-11-20T10:30:45", None, "2026-12-01T00:00:00"),
        ("@yearly", "2026-11-20T10:30:45", None, "2027-01-01T00:00:00"),
        # both day fields restricted: either matches (the 15th, or a Monday before it)
        ("0 0 15 * MON", "2026-12-01T00:00:00", None, "2026-12-07T00:00:00"),
        ("0 0 15 * MON", "2026-12-14T00:00:00", None, "2026-12-15T00:00:00"),
        # one restricted with "?" or "*": only that one counts
        ("0 0 15 * ?", "2026-12-01T00:00:00", None, "2026-12-15T00:00:00"),
        ("30 4 1 JAN,JUL *", "2026-11-01T04:30:00", None, "2027-01-01T04:30:00"),
        # a leap day
        ("0 0 29 2 *", "2026-03-01T00:00:00", None, "2028-02-29T00:00:00"),
    ],
)
def test_next_run(schedule: str, after: str, zone: str | None, expected: str) -> None:
    assert next_run(schedule, utc(after), zone) == utc(expected)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 2 * *", "a cron schedule has five fields"),
        ("61 * * * *", "minute: 61 is not in 0-59"),
        ("0 0 31 2 *", "no run within five years"),
    ],
)
def test_bad_schedules_name_the_problem(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_run(schedule, utc("2026-11-27T00:00:00"))


def test_quantities_in_kube_state_metrics_units() -> None:
    """Go's Quantity: MilliValue()/1000 for CPU and Value() (both rounded up) for the rest."""
    assert cores("100m") == 0.1
    assert cores("0.5") == 0.5
    assert cores("1.0001") == 1.001  # rounded up to the next millicore
    assert whole("70Mi") == 73400320
    assert whole("1G") == 1_000_000_000
    assert whole("1.5") == 2
    assert quota_value("1250m") == 1.25
    assert list(resource_values({"hugepages-2Mi": "4Mi", "nvidia.com/gpu": "1", "pods": "3"})) == [
        ("hugepages_2Mi", "byte", 4194304.0),
        ("nvidia_com_gpu", "integer", 1.0),
    ]
