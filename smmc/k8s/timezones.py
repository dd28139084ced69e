"""A time interval with a `location` as equivalent UTC time intervals, for the AlertmanagerConfig.

prometheus-operator's AlertmanagerConfig has no `location` (time zone) on time intervals (operator issue
#5512), and Alertmanager reads intervals without one as UTC. A local window such as "Tuesday and Thursday,
01:00-05:00 America/Santiago" therefore becomes, for every UTC day of the years `YEARS`, the UTC minutes it
covers, grouped back into intervals by year, month range, weekday and days of the month. The result
matches the local window minute for minute over those years (tests/test_k8s_timezones.py), including the
daylight-saving changes the time-zone database knows; outside `YEARS` it matches nothing, so regenerate
with a later range before it runs out (a test fails a year ahead).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

YEARS = (2025, 2031)  # inclusive
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY = 24 * 60


class TimeZoneError(ValueError):
    pass


def years_run_out(today: date, years: tuple[int, int] = YEARS) -> str | None:
    """A warning once `today` is in the last year the expansion covers (a year before the converted
    time intervals stop matching), else None. `smmc k8s check` asks it with the real date."""
    if today.year < years[1]:
        return None
    return (
        f"the time intervals are expanded for {years[0]}-{years[1]} only and it is {today.year}: "
        "extend smmc/k8s/timezones.py YEARS and run `smmc k8s generate`"
    )


def _minutes(text: str) -> int:
    hours, _, minutes = str(text).partition(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _weekday_set(values: Iterable[str]) -> set[int]:
    days: set[int] = set()
    for value in values:
        first, _, last = str(value).lower().partition(":")
        a = WEEKDAYS.index(first)
        b = WEEKDAYS.index(last) if last else a
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return days


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def utc_minutes(
    day: date, weekdays: set[int], times: list[tuple[int, int]], zone: ZoneInfo
) -> tuple[tuple[int, int], ...]:
    """The minutes of UTC day `day` that fall in the local window (weekdays x times in `zone`)."""
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    day_end = day_start + timedelta(days=1)
    ranges = []
    for delta in (-1, 0, 1):  # the local days that can overlap this UTC day
        local = day + timedelta(days=delta)
        if local.weekday() not in weekdays:
            continue
        midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
        for start, end in times:
            # wall-clock arithmetic in the zone, then to UTC (as Alertmanager does with a location)
            begin = (midnight + timedelta(minutes=start)).astimezone(UTC)
            finish = (midnight + timedelta(minutes=end)).astimezone(UTC)
            lo, hi = max(begin, day_start), min(finish, day_end)
            if hi > lo:
                ranges.append(
                    (int((lo - day_start).total_seconds() // 60), int((hi - day_start).total_seconds() // 60))
                )
    return _merge(ranges)


def expand(interval: Mapping[str, Any], where: str, years: tuple[int, int] = YEARS) -> list[dict[str, Any]]:
    """One Alertmanager time interval with `location` -> AlertmanagerConfig timeIntervals in UTC."""
    unsupported = set(interval) - {"location", "weekdays", "times"}
    if unsupported:
        raise TimeZoneError(
            f"{where}: with a location, only weekdays and times can be converted to UTC "
            f"(not {', '.join(sorted(unsupported))})"
        )
    try:
        zone = ZoneInfo(str(interval["location"]))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(f"{where}: unknown location {interval['location']!r}") from exc
    weekdays = _weekday_set(interval.get("weekdays") or WEEKDAYS)
    times = [(_minutes(t["start_time"]), _minutes(t["end_time"])) for t in interval.get("times") or []] or [
        (0, DAY)
    ]

    # (year, month, weekday) -> [(day of month, UTC ranges)]
    buckets: dict[tuple[int, int, int], list[tuple[int, tuple[tuple[int, int], ...]]]] = {}
    day = date(years[0], 1, 1)
    while day.year <= years[1]:
        buckets.setdefault((day.year, day.month, day.weekday()), []).append(
            (day.day, utc_minutes(day, weekdays, times, zone))
        )
        day += timedelta(days=1)

    # Per (year, weekday): months whose days all share one range set form runs of months; a month with a
    # change (daylight saving) is written out by runs of days of the month.
    pieces: list[tuple[int, int, tuple[tuple[int, int], ...], str, tuple[int, int] | None]] = []
    for (year, month, weekday), days in sorted(buckets.items()):
        if len({r for _, r in days}) == 1:
            if days[0][1]:
                pieces.append((year, weekday, days[0][1], f"{month}", None))
            continue
        for ranges, run in groupby(days, key=lambda d: d[1]):
            run_days = [d for d, _ in run]
            if ranges:
                pieces.append((year, weekday, ranges, f"{month}", (run_days[0], run_days[-1])))

    out: list[dict[str, Any]] = []
    for key in sorted({p[:3] for p in pieces}):
        year, weekday, ranges = key
        items = [p for p in pieces if p[:3] == key]
        months = sorted(int(p[3]) for p in items if p[4] is None)
        for first, last in _runs(months):
            out.append(
                _interval(year, weekday, ranges, f"{first}:{last}" if last != first else f"{first}", None)
            )
        for p in items:
            if p[4] is not None:
                out.append(_interval(year, weekday, ranges, p[3], p[4]))
    out.sort(
        key=lambda t: (
            t["years"][0],
            WEEKDAYS.index(t["weekdays"][0]),
            _month_start(t["months"][0]),
            t.get("daysOfMonth", [{"start": 0}])[0]["start"],
        )
    )
    return out


def _month_start(text: str) -> int:
    return int(text.split(":")[0])


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _interval(
    year: int, weekday: int, ranges: tuple[tuple[int, int], ...], months: str, days: tuple[int, int] | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "times": [{"startTime": _hhmm(s), "endTime": _hhmm(e)} for s, e in ranges],
        "weekdays": [WEEKDAYS[weekday]],
    }
    if days is not None:
        out["daysOfMonth"] = [{"start": days[0], "end": days[1]}]
    out["months"] = [months]
    out["years"] = [str(year)]
    return out
