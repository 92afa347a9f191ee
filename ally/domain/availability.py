"""Availability windows: parsing, validation, merging and minute bitmaps.

A window is a daily local time range, in minutes of the local day. Matching
works on bitmaps: a Python int where bit i means "minute anchor + i is
available", so overlap is one AND and a bit count, whatever the time zones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from .timezones import local_date, localize

DAY = 1440
WEEK = 7 * DAY
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})")
_ALL_DAYS = frozenset(range(7))


class AvailabilityError(ValueError):
    """A problem with availability windows, worded for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _clean_weekdays(weekdays: Iterable[int] | None) -> frozenset[int] | None:
    if weekdays is None:
        return None
    if isinstance(weekdays, str | bytes) or not isinstance(weekdays, Iterable):
        raise AvailabilityError("weekdays must be a list of numbers 0 (Mon) to 6 (Sun)")
    days = list(weekdays)
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise AvailabilityError(
                f"{day!r} is not a weekday (use 0 for Monday to 6 for Sunday)"
            )
    if not days:
        raise AvailabilityError("pick at least one weekday")
    chosen = frozenset(days)
    # Every day is the same thing as no restriction; one spelling keeps merging simple.
    return None if chosen == _ALL_DAYS else chosen


@dataclass(frozen=True, order=True)
class Window:
    """A daily local time range; end <= start means it crosses midnight."""

    start: int
    end: int
    weekdays: frozenset[int] | None = None

    def __post_init__(self) -> None:
        for value in (self.start, self.end):
            if isinstance(value, bool) or not isinstance(value, int):
                raise AvailabilityError("window times must be whole minutes")
            if not 0 <= value < DAY:
                raise AvailabilityError(f"{value} is not a minute of the day (0–1439)")
        if self.start == self.end:
            raise AvailabilityError(
                f"{format_hhmm(self.start)}–{format_hhmm(self.end)} is empty: "
                "the end must differ from the start"
            )
        # frozen: normalise through object.__setattr__ so any iterable works.
        object.__setattr__(self, "weekdays", _clean_weekdays(self.weekdays))
        # Windows are cache keys in matching's hot loop; hash them only once.
        object.__setattr__(self, "_hash", hash((self.start, self.end, self.weekdays)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    @property
    def minutes(self) -> int:
        """Length in minutes, counting past midnight when the window crosses it."""
        return (self.end - self.start) % DAY

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window ends on the day after it starts."""
        return self.end <= self.start

    def days(self) -> frozenset[int]:
        """The weekdays the window starts on (all seven when unrestricted)."""
        return _ALL_DAYS if self.weekdays is None else self.weekdays

    def label(self) -> str:
        """Human form, e.g. "22:00–01:00" or "19:00–21:30 (Mon, Wed)"."""
        text = f"{format_hhmm(self.start)}–{format_hhmm(self.end)}"
        if self.weekdays is not None:
            names = ", ".join(WEEKDAY_NAMES[d] for d in sorted(self.weekdays))
            text += f" ({names})"
        return text


def _sort_key(window: Window) -> tuple[int, int, tuple[int, ...]]:
    # order=True would compare weekday sets (subset order, None vs set raises).
    return (window.start, window.end, tuple(sorted(window.days())))


def parse_hhmm(text: str, *, end: bool = False) -> int:
    """Minutes since midnight of a strict 24-hour "HH:MM" ("24:00" only as an end)."""
    if not isinstance(text, str) or not text.strip():
        raise AvailabilityError("a time of day is required (use HH:MM, 00:00–23:59)")
    match = _HHMM.fullmatch(text.strip())
    if match is not None:
        hours, minutes = int(match[1]), int(match[2])
        if hours < 24 and minutes < 60:
            return hours * 60 + minutes
        if end and hours == 24 and minutes == 0:
            return 0  # the midnight that ends the day, same minute as 00:00
    raise AvailabilityError(f"'{text}' is not a time of day (use HH:MM, 00:00–23:59)")


def format_hhmm(minute: int) -> str:
    """Format a minute of the day (taken modulo one day) as "HH:MM"."""
    hours, minutes = divmod(minute % DAY, 60)
    return f"{hours:02d}:{minutes:02d}"


def make_window(start: str, end: str, weekdays: Iterable[int] | None = None) -> Window:
    """A validated window from "HH:MM" texts and optional weekdays (0=Mon)."""
    first = parse_hhmm(start)
    last = parse_hhmm(end, end=True)
    if first == last:
        raise AvailabilityError(
            f"{format_hhmm(first)}–{format_hhmm(last)} is empty: "
            "the end must differ from the start"
        )
    return Window(first, last, _clean_weekdays(weekdays))


def _merge_same_days(windows: list[Window]) -> list[Window]:
    """Merge windows of one weekday set that overlap or touch."""
    weekdays = windows[0].weekdays
    spans = sorted((w.start, w.start + w.minutes) for w in windows)
    merged: list[list[int]] = []
    for start, stop in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    if weekdays is None:
        # An every-day window crossing midnight meets the next morning's windows
        # of the same set; for some weekdays only it would not (Mon 22:00–01:00
        # runs into Tuesday, not into Monday's 00:30), so only wrap here.
        while len(merged) > 1 and merged[-1][1] - DAY >= merged[0][0]:
            head = merged.pop(0)
            merged[-1][1] = max(merged[-1][1], head[1] + DAY)
    result = []
    for start, stop in merged:
        if stop - start >= DAY:
            raise AvailabilityError("a window cannot cover the whole day")
        result.append(Window(start, stop % DAY, weekdays))
    return result


def _week_spans(window: Window) -> list[tuple[int, int]]:
    return [(d * DAY + window.start, window.minutes) for d in sorted(window.days())]


def _clash_day(a: Window, b: Window) -> int | None:
    """The weekday on which a and b first overlap in real time, or None."""
    for a_start, a_len in _week_spans(a):
        for b_start, b_len in _week_spans(b):
            # Two arcs on the week circle meet when either starts inside the other.
            if (b_start - a_start) % WEEK < a_len:
                return (b_start % WEEK) // DAY
            if (a_start - b_start) % WEEK < b_len:
                return (a_start % WEEK) // DAY
    return None


def normalize_windows(
    windows: Iterable[Window], max_windows: int = 6
) -> tuple[Window, ...]:
    """Merge, check and sort windows; raises AvailabilityError when they clash."""
    groups: dict[frozenset[int] | None, list[Window]] = {}
    for window in windows:
        groups.setdefault(window.weekdays, []).append(window)
    merged = sorted(
        (w for group in groups.values() for w in _merge_same_days(group)),
        key=_sort_key,
    )
    for i, first in enumerate(merged):
        for second in merged[i + 1 :]:
            day = _clash_day(first, second)
            if day is not None:
                raise AvailabilityError(
                    f"{first.label()} and {second.label()} overlap on "
                    f"{WEEKDAY_NAMES[day]}; merge them or pick other weekdays"
                )
    if len(merged) > max_windows:
        raise AvailabilityError(f"at most {max_windows} availability windows")
    return tuple(merged)


# --- bitmaps ---------------------------------------------------------------


def _minutes_between(earlier: datetime, later: datetime) -> int:
    return int((later - earlier).total_seconds() // 60)


@lru_cache(maxsize=65536)
def availability_bitmap(
    windows: tuple[Window, ...], tz: str, anchor_day: date, days: int
) -> int:
    """Bit i set when minute anchor_day 00:00 UTC + i falls in a window, for days."""
    anchor = datetime.combine(anchor_day, time(), UTC)
    span = days * DAY
    bits = 0
    # A window starting on local date d can end late on d + 1 local, which in
    # UTC-12 is noon of d + 2: so local dates from anchor_day - 2 can reach in.
    first = anchor_day - timedelta(days=2)
    dates = [first + timedelta(days=i) for i in range(days + 5)]
    midnights = [_minutes_between(anchor, localize(d, 0, tz)) for d in dates]
    for i, day in enumerate(dates[:-2]):
        weekday = day.weekday()
        # With no clock change in the two days a window can touch, local minute
        # m is simply midnight + m; only the rare DST days need localize per end.
        steady = midnights[i + 2] - midnights[i] == 2 * DAY
        for w in windows:
            if w.weekdays is not None and weekday not in w.weekdays:
                continue
            if steady:
                start = midnights[i] + w.start
                stop = start + w.minutes
            else:
                # Localise both ends: a window spanning a DST change is as long
                # in real minutes as the wall clock shows, minus or plus the change.
                start = _minutes_between(anchor, localize(day, w.start, tz))
                stop = _minutes_between(anchor, localize(day, w.start + w.minutes, tz))
            start, stop = max(start, 0), min(stop, span)
            if stop > start:
                bits |= ((1 << (stop - start)) - 1) << start
    return bits


def horizon(now: datetime, tz: str, days: int = 7) -> tuple[datetime, datetime]:
    """From local midnight today in tz to local midnight days later, in UTC."""
    today = local_date(now, tz)
    return localize(today, 0, tz), localize(today + timedelta(days=days), 0, tz)


def horizon_frame(start: datetime, end: datetime) -> tuple[date, int, int, int]:
    """(anchor_day, days, offset, length) placing [start, end) in a cached bitmap."""
    start = start.astimezone(UTC)
    anchor_day = start.date() - timedelta(days=1)
    anchor = datetime.combine(anchor_day, time(), UTC)
    offset = _minutes_between(anchor, start)
    length = max(0, _minutes_between(start, end))
    needed = -(-(offset + length) // DAY)
    # Round the span up to whole multiples of 5 days so that every 7-day horizon
    # from the same anchor shares one cache entry per candidate.
    days = -(-needed // 5) * 5
    return anchor_day, days, offset, length


def window_bitmap_for_horizon(
    windows: tuple[Window, ...], tz: str, start: datetime, end: datetime
) -> int:
    """Availability over [start, end) as a bitmap whose bit 0 is minute start."""
    anchor_day, days, offset, length = horizon_frame(start, end)
    bits = availability_bitmap(tuple(windows), tz, anchor_day, days)
    return (bits >> offset) & ((1 << length) - 1)


def shared_minutes(a: int, b: int) -> int:
    """Minutes available in both bitmaps."""
    return (a & b).bit_count()


def run_starts(bitmap: int, length: int) -> int:
    """Bitmap whose bit i is set when bits i .. i+length-1 are all set."""
    if length <= 1:
        return bitmap if length == 1 else -1
    # Doubling: after each step bit i stands for a run of k bits starting at i,
    # so a run of `length` takes O(log length) shifts instead of `length`.
    y = bitmap
    k = 1
    while 2 * k <= length:
        y &= y >> k
        k *= 2
    return y & (y >> (length - k))


def has_run(bitmap: int, length: int) -> bool:
    """Whether bitmap has length consecutive set bits."""
    if length <= 0:
        return True
    return run_starts(bitmap, length) != 0


def earliest_daily_start(
    windows_a: tuple[Window, ...],
    tz_a: str,
    windows_b: tuple[Window, ...],
    tz_b: str,
    fixed_tz: str,
    now: datetime,
    length: int,
    days: int = 7,
    step: int = 5,
) -> int | None:
    """Earliest local minute in fixed_tz that fits both on the most of the next days."""
    today = local_date(now, fixed_tz)
    dates = [today + timedelta(days=i) for i in range(days)]
    start = localize(today, 0, fixed_tz)
    # A start late on the last day still needs `length` minutes after it.
    end = localize(today + timedelta(days=days), 0, fixed_tz) + timedelta(
        minutes=length + 60
    )
    both = window_bitmap_for_horizon(
        tuple(windows_a), tz_a, start, end
    ) & window_bitmap_for_horizon(tuple(windows_b), tz_b, start, end)
    # A session lasts `length` real minutes from its (localised) start, so a
    # start fits when a run of `length` begins at its bit.
    fits = run_starts(both, length)
    if fits == 0:
        return None
    counts = [0] * len(range(0, DAY, step))
    for day in dates:
        midnight = _minutes_between(start, localize(day, 0, fixed_tz))
        next_midnight = _minutes_between(start, localize(day, DAY, fixed_tz))
        steady = next_midnight - midnight == DAY
        for i, minute in enumerate(range(0, DAY, step)):
            # Most days have no DST change: the offset is just the wall minute.
            offset = (
                midnight + minute
                if steady
                else _minutes_between(start, localize(day, minute, fixed_tz))
            )
            if (fits >> offset) & 1:
                counts[i] += 1
    best = max(counts)
    if best == 0:
        return None
    return counts.index(best) * step


def daily_overlap_minutes(total_shared: int, days: int = 7) -> int:
    """Average shared minutes per day, rounded."""
    return round(total_shared / days)
