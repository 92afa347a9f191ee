"""A partnership's schedule: occurrences between two instants, alternation, turns.

One function, `occurrences`, turns a schedule (a daily local start time fixed in
one IANA zone, on some weekdays) into concrete meetings. The job that opens
sessions, the upcoming list and the calendar feed all use it, so they agree.
The DST rule lives in `timezones.localize`: a start that does not exist moves
forward by the gap, one that occurs twice takes the first occurrence, and there
is exactly one meeting per local date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .timezones import local_date, localize, zone

ALL_WEEKDAYS: frozenset[int] = frozenset(range(7))
MAX_RATE_SECONDS = 180
NEXT_OCCURRENCE_HORIZON = timedelta(days=14)


def weekdays_from_mask(mask: int) -> frozenset[int]:
    """The weekdays (0=Monday..6=Sunday) whose bit is set in mask (bit i = day i)."""
    if isinstance(mask, bool) or not isinstance(mask, int) or not 0 <= mask <= 127:
        raise ValueError(f"weekday mask must be an int from 0 to 127, not {mask!r}")
    return frozenset(day for day in range(7) if mask >> day & 1)


def weekdays_to_mask(weekdays: Iterable[int]) -> int:
    """The bit mask (bit i = weekday i) for weekday numbers 0=Monday..6=Sunday."""
    mask = 0
    for day in _clean_weekdays(weekdays):
        mask |= 1 << day
    return mask


def _clean_weekdays(weekdays: Iterable[int]) -> frozenset[int]:
    if isinstance(weekdays, str | bytes) or not isinstance(weekdays, Iterable):
        raise ValueError(f"weekdays must be numbers 0 (Mon) to 6 (Sun): {weekdays!r}")
    days = frozenset(weekdays)
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise ValueError(f"{day!r} is not a weekday (0 for Monday to 6 for Sunday)")
    return days


def _check_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {value!r}")


@dataclass(frozen=True)
class Schedule:
    """A daily local start time in one zone, on some weekdays, from anchor_date."""

    daily_minute: int
    timezone: str
    weekdays: frozenset[int]
    session_minutes: int = 60
    turns: int = 4
    # The local date the partnership started; alternation counts from it.
    anchor_date: date = field(kw_only=True)

    def __post_init__(self) -> None:
        if (
            isinstance(self.daily_minute, bool)
            or not isinstance(self.daily_minute, int)
            or not 0 <= self.daily_minute < 1440
        ):
            raise ValueError(f"daily_minute must be 0..1439, not {self.daily_minute!r}")
        zone(self.timezone)  # an unknown zone raises here, not at first use
        object.__setattr__(self, "weekdays", _clean_weekdays(self.weekdays))
        for name in ("session_minutes", "turns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        if isinstance(self.anchor_date, datetime) or not isinstance(
            self.anchor_date, date
        ):
            raise ValueError(f"anchor_date must be a date, not {self.anchor_date!r}")

    weekdays_from_mask = staticmethod(weekdays_from_mask)

    @property
    def weekday_mask(self) -> int:
        """The weekdays as a bit mask (bit i = weekday i)."""
        return weekdays_to_mask(self.weekdays)


@dataclass(frozen=True)
class Occurrence:
    """One meeting: its local date, real start and end, and who teaches first."""

    local_date: date
    starts_at: datetime
    ends_at: datetime
    first_teacher: int


def _scheduled_days_before(weekdays: frozenset[int], start: date, end: date) -> int:
    """How many dates in [start, end) fall on one of weekdays (0 if end <= start)."""
    days = (end - start).days
    if days <= 0:
        return 0
    weeks, rest = divmod(days, 7)
    first = start.weekday()
    tail = sum(1 for i in range(rest) if (first + i) % 7 in weekdays)
    return weeks * len(weekdays) + tail


def first_teacher_for(schedule: Schedule, day: date) -> int:
    """Who teaches first on day (0 = member A, 1 = member B), alternating by meeting."""
    if day >= schedule.anchor_date:
        count = _scheduled_days_before(schedule.weekdays, schedule.anchor_date, day)
    else:
        # Before the anchor: count backwards; parity is all that matters.
        count = _scheduled_days_before(schedule.weekdays, day, schedule.anchor_date)
    return count % 2


def occurrences(schedule: Schedule, start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence of schedule whose start lies in [start, end), in order."""
    _check_aware("start", start)
    _check_aware("end", end)
    if end <= start or not schedule.weekdays:
        return []
    tz = schedule.timezone
    # One day of margin either side: a local date's start can land outside the
    # UTC day it seems to belong to; the instant filter below decides.
    day = max(local_date(start, tz) - timedelta(days=1), schedule.anchor_date)
    last = local_date(end, tz) + timedelta(days=1)
    length = timedelta(minutes=schedule.session_minutes)
    found: list[Occurrence] = []
    if day > last:
        return found
    parity = first_teacher_for(schedule, day)
    while day <= last:
        if day.weekday() in schedule.weekdays:
            starts_at = localize(day, schedule.daily_minute, tz)
            if start <= starts_at < end:
                found.append(Occurrence(day, starts_at, starts_at + length, parity))
            parity ^= 1
        day += timedelta(days=1)
    return found


def next_occurrence(schedule: Schedule, now: datetime) -> Occurrence | None:
    """The first occurrence starting at or after now, within 14 days, or None."""
    found = occurrences(schedule, now, now + NEXT_OCCURRENCE_HORIZON)
    return found[0] if found else None


@dataclass(frozen=True)
class PlannedTurn:
    """One turn of a session plan: who teaches, who listens, and phase lengths."""

    index: int
    teacher: int
    listener: int
    teach_seconds: int
    rate_seconds: int


def turn_lengths(session_minutes: int, turns: int) -> tuple[int, int]:
    """(teach_seconds, rate_seconds) of each turn when turns share the session."""
    if session_minutes < 1 or turns < 1:
        raise ValueError("session_minutes and turns must be positive")
    turn = session_minutes * 60 // turns
    rate = min(MAX_RATE_SECONDS, turn // 5)
    return turn - rate, rate


def session_plan(
    turns: int, first_teacher: int, teach_seconds: int, rate_seconds: int
) -> tuple[PlannedTurn, ...]:
    """The turns of a session, teachers alternating A B A B from first_teacher."""
    if turns < 1:
        raise ValueError("a session has at least one turn")
    if first_teacher not in (0, 1):
        raise ValueError(f"first_teacher must be 0 or 1, not {first_teacher!r}")
    if teach_seconds < 1 or rate_seconds < 0:
        raise ValueError("teach_seconds must be positive and rate_seconds not negative")
    plan = []
    for index in range(turns):
        teacher = (first_teacher + index) % 2
        plan.append(
            PlannedTurn(index, teacher, 1 - teacher, teach_seconds, rate_seconds)
        )
    return tuple(plan)
