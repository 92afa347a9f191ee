"""Time-zone arithmetic: valid zone names and local wall time to UTC instants."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache


def _selectable(name: str) -> bool:
    # posix/ and right/ duplicate the main tree, and the bare legacy aliases
    # ("EST", "Japan", "GB") only confuse a picker; UTC is the one worth keeping.
    if name in {"localtime", "Factory"} or name.startswith(("posix/", "right/")):
        return False
    return "/" in name or name == "UTC"


ALL_TIMEZONES: tuple[str, ...] = tuple(
    sorted(n for n in zoneinfo.available_timezones() if _selectable(n))
)
_TIMEZONE_SET = frozenset(ALL_TIMEZONES)


@lru_cache(maxsize=1024)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for an IANA name (cached; a KeyError subclass when unknown)."""
    return zoneinfo.ZoneInfo(name)


def is_valid_timezone(name: str) -> bool:
    """Whether name is one of the selectable IANA time zones."""
    return isinstance(name, str) and name in _TIMEZONE_SET


def _wall(instant: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


@lru_cache(maxsize=65536)
def localize(day: date, minute: int, tz: str) -> datetime:
    """The UTC instant of local wall time day + minute minutes in tz (DST-safe)."""
    extra_days, minute = divmod(minute, 1440)
    wall = datetime.combine(day + timedelta(days=extra_days), time(*divmod(minute, 60)))
    info = zone(tz)
    first = wall.replace(tzinfo=info, fold=0)
    second = wall.replace(tzinfo=info, fold=1)
    # Every instant this wall time could mean; keep those that really show it.
    candidates = sorted(
        {first.astimezone(UTC), second.astimezone(UTC)},
    )
    real = [c for c in candidates if _wall(c, info) == wall]
    if real:
        # Fall back: the wall time occurs twice; the first occurrence wins.
        return real[0]
    # Spring forward: the wall time does not exist. Move it forward by the gap
    # (the difference between the offsets either side) so 02:30 becomes 03:30,
    # rather than trusting whichever offset zoneinfo happens to pick.
    offsets = {first.utcoffset(), second.utcoffset()}
    gap = max(offsets) - min(offsets)  # type: ignore[type-var]
    later = wall + gap
    after = later.replace(tzinfo=info, fold=0).astimezone(UTC)
    if _wall(after, info) == later:
        return after
    return later.replace(tzinfo=info, fold=1).astimezone(UTC)


def local_date(now: datetime, tz: str) -> date:
    """The calendar date in tz at the instant now."""
    return now.astimezone(zone(tz)).date()


def utc_offset_minutes(instant: datetime, tz: str) -> int:
    """The UTC offset of tz at instant, in minutes (east positive)."""
    offset = instant.astimezone(zone(tz)).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


# The days and instants the app accepts from outside: datetime's own range less
# a year at each end, so converting to any zone or stepping days or weeks from
# them never overflows (OverflowError). Anything outside is refused as invalid.
EARLIEST_DAY = date(2, 1, 1)
LATEST_DAY = date(9998, 12, 31)
OUT_OF_RANGE = f"is out of range (use {EARLIEST_DAY} to {LATEST_DAY})."


def day_in_range(day: date) -> bool:
    """Whether a calendar day lies in [EARLIEST_DAY, LATEST_DAY]."""
    return EARLIEST_DAY <= day <= LATEST_DAY


def instant_in_range(instant: datetime) -> bool:
    """Whether an aware instant converts to UTC and its UTC day is in range."""
    try:
        return day_in_range(instant.astimezone(UTC).date())
    except OverflowError:
        return False
