"""The Cloudera job schedule: for each job its criticality, its deadline (local time) and how often it runs.

A job runs once per *cycle*. A daily cycle starts at `window_start` local time (default midnight) and
its deadline is `deadline` local time of the same cycle; an hourly cycle starts at the top of the hour
and its deadline is `deadline` minutes past it. A run belongs to the cycle in which it happened, so a
late run satisfies its own cycle and not the next one. Local times are resolved in the schedule's time
zone (America/Santiago by default) for each day separately, so a deadline of 06:00 is 06:00 on the wall
clock on both sides of a daylight-saving change. A local time that does not exist (the skipped hour)
is read with the offset in force before the jump (00:30 on 2022-09-11 is 01:30 after the jump); a
repeated local time resolves to its first occurrence.

File format (YAML):

    timezone: America/Santiago          # optional
    jobs:
      - name: "NCO - Chile - Ingesta y Procesamiento"
        criticality: critical            # critical | non_critical (Critico / No Critico accepted)
        every: day                       # day (default) | hour
        deadline: "07:00"                # HH:MM for daily jobs, ":MM" (or MM) for hourly jobs
        days: [mon, tue, wed, thu, fri]  # optional, daily jobs only: the days it runs
        window_start: "00:00"            # optional, daily jobs only: when its cycle opens
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smmc.yamlfile import read_yaml

DEFAULT_TIMEZONE = "America/Santiago"
CRITICALITIES = ("critical", "non_critical")
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    "lun": "mon",
    "mar": "tue",
    "mie": "wed",
    "jue": "thu",
    "vie": "fri",
    "sab": "sat",
    "dom": "sun",
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}


class ScheduleError(ValueError):
    """The schedule file cannot be used; the message names the job and the field."""


def fold_text(value: object) -> str:
    """Lower case, no accents, spaces/underscores/hyphens folded: `No Crítico` -> `no critico`."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[\s_\-]+", " ", text).strip().lower()


_CRITICALITY_WORDS = {
    "critico": "critical",
    "critical": "critical",
    "no critico": "non_critical",
    "non critico": "non_critical",
    "non critical": "non_critical",
    "not critical": "non_critical",
    "noncritical": "non_critical",
}


def normalise_criticality(value: object) -> str | None:
    """`Critico` -> `critical`, `No Critico` -> `non_critical`; None when it is neither."""
    return _CRITICALITY_WORDS.get(fold_text(value))


@dataclass(frozen=True)
class Cycle:
    """One run of a job: runs at or after `start` (and before the next cycle's start) count for it."""

    start: float
    deadline: float


@dataclass(frozen=True)
class JobSpec:
    name: str
    criticality: str
    every: str  # "day" | "hour"
    deadline: time  # for hourly jobs only the minute is used
    window_start: time
    days: frozenset[int]  # weekday numbers (0 = Monday); all seven when unrestricted

    def _daily_cycle(self, day: date, tz: ZoneInfo) -> Cycle:
        deadline = datetime.combine(day, self.deadline, tzinfo=tz)
        start_day = day if self.window_start <= self.deadline else day - timedelta(days=1)
        start = datetime.combine(start_day, self.window_start, tzinfo=tz)
        return Cycle(start=start.timestamp(), deadline=deadline.timestamp())

    def cycles_around(self, now: float, tz: ZoneInfo) -> Iterator[Cycle]:
        """Cycles from about a week before `now` to a day after it, in order."""
        if self.every == "hour":
            hour = int(now // 3600) * 3600
            for k in range(-3, 3):
                start = hour + k * 3600
                yield Cycle(start=start, deadline=start + self.deadline.minute * 60)
            return
        today = datetime.fromtimestamp(now, tz).date()
        for k in range(-9, 3):
            day = today + timedelta(days=k)
            if day.weekday() in self.days:
                yield self._daily_cycle(day, tz)

    def current_and_previous(self, now: float, tz: ZoneInfo) -> tuple[Cycle | None, Cycle | None]:
        """The cycle `now` falls in (its start <= now) and the one before it."""
        current = previous = None
        for cycle in self.cycles_around(now, tz):
            if cycle.start <= now:
                previous, current = current, cycle
            else:
                break
        return current, previous


@dataclass(frozen=True)
class Schedule:
    timezone: str
    jobs: tuple[JobSpec, ...]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def get(self, name: str) -> JobSpec | None:
        return self._by_name().get(name)

    def _by_name(self) -> dict[str, JobSpec]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {job.name: job for job in self.jobs}
            object.__setattr__(self, "_index", cached)
        return cached

    def names(self) -> list[str]:
        return [job.name for job in self.jobs]


EMPTY_SCHEDULE = Schedule(timezone=DEFAULT_TIMEZONE, jobs=())


def _parse_clock(value: object, where: str) -> time:
    text = str(value).strip()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if not match:
        raise ScheduleError(f"{where}: {text!r} is not a local time HH:MM")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleError(f"{where}: {text!r} is not a valid time of day")
    return time(hour, minute, second)


def _parse_minute(value: object, where: str) -> time:
    text = str(value).strip().lstrip(":")
    if not text.isdigit() or int(text) > 59:
        raise ScheduleError(f"{where}: {value!r} is not a minute past the hour (:MM)")
    return time(0, int(text))


def _parse_days(value: object, where: str) -> frozenset[int]:
    if value is None:
        return frozenset(range(7))
    items: Iterable[object] = value if isinstance(value, list) else str(value).split(",")
    days = set()
    for item in items:
        key = fold_text(item)
        key = _DAY_ALIASES.get(key, key)
        if key not in _DAY_NAMES:
            raise ScheduleError(f"{where}: unknown day {item!r} (use mon, tue, ... sun)")
        days.add(_DAY_NAMES.index(key))
    if not days:
        raise ScheduleError(f"{where}: `days` is empty")
    return frozenset(days)


_JOB_KEYS = {"name", "criticality", "every", "deadline", "days", "window_start", "description"}


def parse_schedule(document: object, source: str = "schedule") -> Schedule:
    if document is None:
        return EMPTY_SCHEDULE
    if not isinstance(document, dict):
        raise ScheduleError(f"{source}: expected a mapping with a `jobs` list")
    timezone = str(document.get("timezone") or DEFAULT_TIMEZONE)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"{source}: unknown time zone {timezone!r}") from exc
    raw_jobs = document.get("jobs") or []
    if not isinstance(raw_jobs, list):
        raise ScheduleError(f"{source}: `jobs` must be a list")
    jobs: list[JobSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_jobs):
        where = f"{source}: jobs[{i}]"
        if not isinstance(raw, dict):
            raise ScheduleError(f"{where}: expected a mapping")
        unknown = sorted(set(raw) - _JOB_KEYS)
        if unknown:
            raise ScheduleError(f"{where}: unknown key(s) {', '.join(unknown)}")
        name = str(raw.get("name") or "").strip()
        if not name:
            raise ScheduleError(f"{where}: `name` is required")
        where = f"{source}: job {name!r}"
        if name in seen:
            raise ScheduleError(f"{where}: listed twice")
        seen.add(name)
        criticality = normalise_criticality(raw.get("criticality", ""))
        if criticality is None:
            raise ScheduleError(
                f"{where}: criticality {raw.get('criticality')!r} is not critical/non_critical"
            )
        every = fold_text(raw.get("every", "day"))
        every = {"daily": "day", "hourly": "hour"}.get(every, every)
        if every not in ("day", "hour"):
            raise ScheduleError(f"{where}: `every` must be day or hour, not {raw.get('every')!r}")
        if "deadline" not in raw:
            raise ScheduleError(f"{where}: `deadline` is required")
        if every == "hour":
            if "days" in raw or "window_start" in raw:
                raise ScheduleError(f"{where}: `days` and `window_start` apply to daily jobs only")
            deadline = _parse_minute(raw["deadline"], f"{where} deadline")
            window_start = time(0, 0)
            days = frozenset(range(7))
        else:
            deadline = _parse_clock(raw["deadline"], f"{where} deadline")
            window_start = _parse_clock(raw.get("window_start", "00:00"), f"{where} window_start")
            days = _parse_days(raw.get("days"), f"{where} days")
            if window_start == deadline:
                raise ScheduleError(
                    f"{where}: `window_start` equals the deadline; the cycle would end as it opens"
                )
        jobs.append(
            JobSpec(
                name=name,
                criticality=criticality,
                every=every,
                deadline=deadline,
                window_start=window_start,
                days=days,
            )
        )
    return Schedule(timezone=timezone, jobs=tuple(jobs))


def load_schedule(path: str | Path) -> Schedule:
    return parse_schedule(read_yaml(path, ScheduleError), source=str(path))
