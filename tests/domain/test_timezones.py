"""Time-zone arithmetic: zone names, DST gaps and folds, odd offsets."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.domain.timezones import (
    ALL_TIMEZONES,
    is_valid_timezone,
    local_date,
    localize,
    utc_offset_minutes,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_all_timezones_is_sorted_and_filtered():
    assert list(ALL_TIMEZONES) == sorted(ALL_TIMEZONES)
    assert "UTC" in ALL_TIMEZONES
    assert "America/New_York" in ALL_TIMEZONES
    assert "Asia/Kathmandu" in ALL_TIMEZONES
    for name in ("localtime", "Factory", "EST", "Japan", "GB", "posix/Europe/Paris"):
        assert name not in ALL_TIMEZONES
    assert not any(n.startswith(("posix/", "right/")) for n in ALL_TIMEZONES)
    assert all("/" in n for n in ALL_TIMEZONES if n != "UTC")


@pytest.mark.parametrize(
    "name, valid",
    [
        ("Europe/London", True),
        ("UTC", True),
        ("Australia/Lord_Howe", True),
        ("Mars/Olympus_Mons", False),
        ("", False),
        ("EST", False),
        ("europe/london", False),
        (None, False),
    ],
)
def test_is_valid_timezone(name, valid):
    assert is_valid_timezone(name) is valid


def test_localize_ordinary_time():
    # 19:00 EST (UTC-5) in January.
    assert localize(date(2026, 1, 15), 19 * 60, "America/New_York") == utc(
        2026, 1, 16, 0, 0
    )
    assert localize(date(2026, 7, 15), 19 * 60, "America/New_York") == utc(
        2026, 7, 15, 23, 0
    )


def test_localize_minutes_past_a_day_roll_into_the_next_date():
    assert localize(date(2026, 1, 15), 1440 + 90, "UTC") == utc(2026, 1, 16, 1, 30)
    assert localize(date(2026, 1, 31), 2 * 1440, "UTC") == utc(2026, 2, 2)


def test_spring_forward_gap_moves_forward_by_the_gap():
    # 2026-03-08 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
    result = localize(date(2026, 3, 8), 2 * 60 + 30, "America/New_York")
    assert result == utc(2026, 3, 8, 7, 30)
    local = result.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (3, 30)
    assert local.utcoffset() == timedelta(hours=-4)
    # The edges of the gap.
    assert localize(date(2026, 3, 8), 1 * 60 + 59, "America/New_York") == utc(
        2026, 3, 8, 6, 59
    )
    assert localize(date(2026, 3, 8), 2 * 60, "America/New_York") == utc(
        2026, 3, 8, 7, 0
    )
    assert localize(date(2026, 3, 8), 3 * 60, "America/New_York") == utc(
        2026, 3, 8, 7, 0
    )


def test_fall_back_fold_takes_the_first_occurrence():
    # 2026-11-01 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    assert localize(date(2026, 11, 1), 90, "America/New_York") == utc(
        2026, 11, 1, 5, 30
    )
    assert localize(date(2026, 11, 1), 2 * 60, "America/New_York") == utc(
        2026, 11, 1, 7, 0
    )


def test_lord_howe_half_hour_dst():
    tz = ZoneInfo("Australia/Lord_Howe")
    # Check the transitions assumed below against the tz database itself.
    assert datetime(2026, 4, 5, 1, 0, tzinfo=tz).utcoffset() == timedelta(hours=11)
    assert datetime(2026, 4, 5, 3, 0, tzinfo=tz).utcoffset() == timedelta(hours=10.5)
    assert datetime(2026, 10, 4, 1, 0, tzinfo=tz).utcoffset() == timedelta(hours=10.5)
    assert datetime(2026, 10, 4, 3, 0, tzinfo=tz).utcoffset() == timedelta(hours=11)

    # Spring forward 2026-10-04 02:00 -> 02:30: 02:15 becomes 02:45 (+11).
    result = localize(date(2026, 10, 4), 2 * 60 + 15, "Australia/Lord_Howe")
    assert result == utc(2026, 10, 3, 15, 45)
    local = result.astimezone(tz)
    assert (local.hour, local.minute) == (2, 45)

    # Fall back 2026-04-05 02:00 -> 01:30: 01:45 happens twice; first is +11.
    assert localize(date(2026, 4, 5), 60 + 45, "Australia/Lord_Howe") == utc(
        2026, 4, 4, 14, 45
    )
    # Ordinary days either side.
    assert localize(date(2026, 4, 6), 10 * 60, "Australia/Lord_Howe") == utc(
        2026, 4, 5, 23, 30
    )
    assert localize(date(2026, 10, 5), 10 * 60, "Australia/Lord_Howe") == utc(
        2026, 10, 4, 23, 0
    )


def test_kathmandu_quarter_hour_offset():
    assert localize(date(2026, 1, 15), 6 * 60, "Asia/Kathmandu") == utc(
        2026, 1, 15, 0, 15
    )
    assert utc_offset_minutes(utc(2026, 1, 15), "Asia/Kathmandu") == 5 * 60 + 45


def test_utc_offset_minutes():
    assert utc_offset_minutes(utc(2026, 1, 15), "America/New_York") == -300
    assert utc_offset_minutes(utc(2026, 7, 15), "America/New_York") == -240
    assert utc_offset_minutes(utc(2026, 7, 15), "UTC") == 0
    assert utc_offset_minutes(utc(2026, 7, 15), "America/St_Johns") == -150


def test_local_date():
    now = utc(2026, 3, 10, 23, 30)
    assert local_date(now, "UTC") == date(2026, 3, 10)
    assert local_date(now, "Asia/Tokyo") == date(2026, 3, 11)
    assert local_date(utc(2026, 3, 10, 3, 0), "America/Los_Angeles") == date(2026, 3, 9)


ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "UTC",
]


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(0, 2 * 1440 - 1),
    st.sampled_from(ZONES),
)
def test_localize_shows_the_wall_time_or_moves_it_forward(day, minute, name):
    tz = ZoneInfo(name)
    result = localize(day, minute, name)
    assert result.tzinfo is not None and result.utcoffset() == timedelta(0)
    wanted = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
    shown = result.astimezone(tz).replace(tzinfo=None)
    # Either the wall time exists and is shown, or it fell in a gap (at most 1 h
    # in these zones) and moved forward by it.
    assert timedelta(0) <= shown - wanted <= timedelta(hours=1)
    if shown == wanted:
        # The first occurrence: no earlier instant, a fold (30 or 60 min) back,
        # showed the same wall time.
        for back in (30, 60):
            earlier = result - timedelta(minutes=back)
            assert earlier.astimezone(tz).replace(tzinfo=None) != wanted
    else:
        # In a gap, the instant just before is still before the wanted time.
        before = (result - timedelta(minutes=1)).astimezone(tz).replace(tzinfo=None)
        assert before < wanted
