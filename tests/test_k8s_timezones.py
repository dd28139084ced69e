"""A local time interval (with `location`) and its UTC expansion for the AlertmanagerConfig match at every
instant of the years covered, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from smmc.k8s import timezones

WEEKDAYS = timezones.WEEKDAYS


def in_local_window(instant: datetime, interval: dict[str, Any]) -> bool:
    """Alertmanager's reading of an interval with a location, evaluated independently with zoneinfo."""
    local = instant.astimezone(ZoneInfo(interval["location"]))
    days = timezones._weekday_set(interval.get("weekdays") or WEEKDAYS)
    minute = local.hour * 60 + local.minute
    return local.weekday() in days and any(
        timezones._minutes(t["start_time"]) <= minute < timezones._minutes(t["end_time"])
        for t in interval["times"]
    )


def _range(text: str) -> tuple[int, int]:
    first, _, last = text.partition(":")
    return int(first), int(last or first)


def in_utc_intervals(instant: datetime, intervals: list[dict[str, Any]]) -> bool:
    """The AlertmanagerConfig's reading: UTC, every field of one interval must match."""
    minute = instant.hour * 60 + instant.minute
    for ti in intervals:
        if WEEKDAYS[instant.weekday()] not in ti["weekdays"]:
            continue
        y0, y1 = _range(ti["years"][0])
        m0, m1 = _range(ti["months"][0])
        if not (y0 <= instant.year <= y1 and m0 <= instant.month <= m1):
            continue
        if "daysOfMonth" in ti:
            d = ti["daysOfMonth"][0]
            if not d["start"] <= instant.day <= d["end"]:
                continue
        if any(
            timezones._minutes(t["startTime"]) <= minute < timezones._minutes(t["endTime"])
            for t in ti["times"]
        ):
            return True
    return False


CASES = [
    {
        "weekdays": ["tuesday", "thursday"],
        "times": [{"start_time": "01:00", "end_time": "05:00"}],
        "location": "America/Santiago",
    },
    # crosses local midnight into the next UTC day, and a weekday range
    {
        "weekdays": ["friday:monday"],
        "times": [{"start_time": "22:30", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "02:15"}],
        "location": "America/Santiago",
    },
    # a zone east of UTC with its own daylight saving (window moves to the previous UTC day)
    {
        "weekdays": ["monday"],
        "times": [{"start_time": "00:30", "end_time": "03:00"}],
        "location": "Europe/Madrid",
    },
]


@pytest.mark.parametrize("interval", CASES, ids=["santiago-campaign", "santiago-overnight", "madrid"])
def test_expansion_matches_the_local_window_at_every_quarter_hour(interval: dict[str, Any]) -> None:
    converted = timezones.expand(interval, "t")
    # the first two years and the last one, every quarter of an hour (the windows' granularity)
    first, last = timezones.YEARS
    checked = inside = 0
    for year_start, year_end in ((first, first + 1), (last, last)):
        instant = datetime(year_start, 1, 1, tzinfo=UTC)
        end = datetime(year_end + 1, 1, 1, tzinfo=UTC)
        while instant < end:
            expected = in_local_window(instant, interval)
            assert in_utc_intervals(instant, converted) == expected, instant.isoformat()
            checked += 1
            inside += expected
            instant += timedelta(minutes=15)
    assert checked > 100_000 and inside > 1000


def test_daylight_saving_moves_the_utc_window() -> None:
    converted = timezones.expand(CASES[0], "t")

    def covering(month: int) -> dict[str, Any]:
        return next(
            t
            for t in converted
            if t["years"] == ["2026"]
            and "tuesday" in t["weekdays"]
            and "daysOfMonth" not in t
            and _range(t["months"][0])[0] <= month <= _range(t["months"][0])[1]
        )

    january, june = covering(1), covering(6)
    assert january["times"] == [{"startTime": "04:00", "endTime": "08:00"}]  # UTC-3 (summer)
    assert june["times"] == [{"startTime": "05:00", "endTime": "09:00"}]  # UTC-4 (winter)


def test_outside_the_years_nothing_matches() -> None:
    converted = timezones.expand(CASES[0], "t")
    tuesday_night = datetime(timezones.YEARS[1] + 1, 1, 6, 5, 0, tzinfo=UTC)
    assert in_local_window(tuesday_night, CASES[0])
    assert not in_utc_intervals(tuesday_night, converted)


def test_k8s_check_warns_in_the_last_year_the_expansion_covers() -> None:
    # `smmc k8s check` asks with the real date; the test injects the dates on both sides of the edge
    first, last = timezones.YEARS
    assert timezones.years_run_out(date(first, 1, 1)) is None
    assert timezones.years_run_out(date(last - 1, 12, 31)) is None
    warning = timezones.years_run_out(date(last, 1, 1))
    assert warning is not None and "extend smmc/k8s/timezones.py YEARS" in warning


def test_what_cannot_be_converted_is_refused() -> None:
    with pytest.raises(timezones.TimeZoneError, match="not days_of_month"):
        timezones.expand({**CASES[0], "days_of_month": ["1:5"]}, "t")
    with pytest.raises(timezones.TimeZoneError, match="unknown location"):
        timezones.expand({**CASES[0], "location": "Mars/Olympus"}, "t")
