"""Schedules: occurrences across DST, alternation by meeting, the session plan.

Expected instants are computed independently with datetime + ZoneInfo: under
PEP 495, fold=0 means the first occurrence of a repeated wall time and, for a
wall time inside a gap, the offset from before the transition, which is the
same as moving it forward by the gap. A few instants are also hard-coded.
"""

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ally.domain.schedule import (
    ALL_WEEKDAYS,
    Occurrence,
    PlannedTurn,
    Schedule,
    first_teacher_for,
    next_occurrence,
    occurrences,
    session_plan,
    turn_lengths,
    weekdays_from_mask,
    weekdays_to_mask,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
EVENING = 19 * 60
YEAR_START = date(2026, 1, 1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make(
    tz: str,
    minute: int = EVENING,
    weekdays=ALL_WEEKDAYS,
    anchor: date = date(2020, 1, 1),
    session_minutes: int = 60,
) -> Schedule:
    return Schedule(
        minute,
        tz,
        frozenset(weekdays),
        session_minutes=session_minutes,
        anchor_date=anchor,
    )


def oracle(day: date, minute: int, tz: str) -> datetime:
    """The DST rule via PEP 495 fold=0, independent of ally.domain.timezones."""
    wall = datetime.combine(day, time(*divmod(minute, 60)), tzinfo=ZoneInfo(tz))
    return wall.replace(fold=0).astimezone(UTC)


def dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def offset_changes(tz: str, year: int) -> list[date]:
    """The local dates in year whose noon offset differs from the day before."""
    info = ZoneInfo(tz)

    def noon(d: date) -> timedelta:
        offset = datetime.combine(d, time(12), tzinfo=info).utcoffset()
        assert offset is not None
        return offset

    days = dates(date(year, 1, 1), date(year, 12, 31))
    return [d for d in days if noon(d) != noon(d - timedelta(days=1))]


# --- Daily 19:00 across both DST changes of 2026 ---------------------------------


@pytest.mark.parametrize(
    "tz, changes",
    [
        ("America/New_York", [date(2026, 3, 8), date(2026, 11, 1)]),
        ("Europe/London", [date(2026, 3, 29), date(2026, 10, 25)]),
        ("Europe/Berlin", [date(2026, 3, 29), date(2026, 10, 25)]),
        ("Australia/Lord_Howe", [date(2026, 4, 5), date(2026, 10, 4)]),
        ("Asia/Kathmandu", []),
    ],
)
def test_daily_evening_over_2026_matches_zoneinfo(tz, changes):
    assert offset_changes(tz, 2026) == changes
    info = ZoneInfo(tz)
    start = datetime.combine(YEAR_START, time(0), tzinfo=info).astimezone(UTC)
    end = datetime.combine(date(2027, 1, 1), time(0), tzinfo=info).astimezone(UTC)

    found = occurrences(make(tz), start, end)

    expected_days = dates(YEAR_START, date(2026, 12, 31))
    assert [o.local_date for o in found] == expected_days
    for occ in found:
        assert occ.starts_at == oracle(occ.local_date, EVENING, tz)
        assert occ.starts_at.tzinfo is not None
        local = occ.starts_at.astimezone(info)
        assert (local.date(), local.hour, local.minute) == (occ.local_date, 19, 0)
        assert occ.ends_at - occ.starts_at == timedelta(minutes=60)
        # Real minutes: the UTC difference, not the wall-clock one.
        assert (occ.ends_at.timestamp() - occ.starts_at.timestamp()) == 3600


@pytest.mark.parametrize(
    "tz, day, instant",
    [
        ("America/New_York", date(2026, 3, 7), utc(2026, 3, 8, 0, 0)),
        ("America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 23, 0)),
        ("America/New_York", date(2026, 10, 31), utc(2026, 10, 31, 23, 0)),
        ("America/New_York", date(2026, 11, 1), utc(2026, 11, 2, 0, 0)),
        ("Europe/London", date(2026, 3, 28), utc(2026, 3, 28, 19, 0)),
        ("Europe/London", date(2026, 3, 29), utc(2026, 3, 29, 18, 0)),
        ("Europe/London", date(2026, 10, 25), utc(2026, 10, 25, 19, 0)),
        ("Europe/Berlin", date(2026, 3, 29), utc(2026, 3, 29, 17, 0)),
        ("Europe/Berlin", date(2026, 10, 25), utc(2026, 10, 25, 18, 0)),
        ("Australia/Lord_Howe", date(2026, 4, 4), utc(2026, 4, 4, 8, 0)),
        ("Australia/Lord_Howe", date(2026, 4, 5), utc(2026, 4, 5, 8, 30)),
        ("Australia/Lord_Howe", date(2026, 10, 3), utc(2026, 10, 3, 8, 30)),
        ("Australia/Lord_Howe", date(2026, 10, 4), utc(2026, 10, 4, 8, 0)),
        ("Asia/Kathmandu", date(2026, 3, 29), utc(2026, 3, 29, 13, 15)),
        ("Asia/Kathmandu", date(2026, 11, 1), utc(2026, 11, 1, 13, 15)),
    ],
)
def test_known_evening_instants(tz, day, instant):
    window_start = utc(day.year, day.month, day.day) - timedelta(days=1)
    found = occurrences(make(tz), window_start, window_start + timedelta(days=3))
    by_day = {o.local_date: o for o in found}
    assert by_day[day].starts_at == instant
    assert by_day[day].ends_at == instant + timedelta(hours=1)


# --- Nonexistent and ambiguous starts ---------------------------------------------


@pytest.mark.parametrize(
    "tz, day, minute, instant, wall",
    [
        # Spring forward 02:00 -> 03:00: 02:30 moves forward by the hour.
        ("America/New_York", date(2026, 3, 8), 150, utc(2026, 3, 8, 7, 30), (3, 30)),
        ("Europe/Berlin", date(2026, 3, 29), 150, utc(2026, 3, 29, 1, 30), (3, 30)),
        ("Europe/London", date(2026, 3, 29), 90, utc(2026, 3, 29, 1, 30), (2, 30)),
        # Lord Howe springs 02:00 -> 02:30: 02:15 moves forward by 30 minutes.
        ("Australia/Lord_Howe", date(2026, 10, 4), 135, utc(2026, 10, 3, 15, 45),
         (2, 45)),
        # Fall back: the first of the two 01:30s (still daylight time).
        ("America/New_York", date(2026, 11, 1), 90, utc(2026, 11, 1, 5, 30), (1, 30)),
        ("Europe/London", date(2026, 10, 25), 90, utc(2026, 10, 25, 0, 30), (1, 30)),
        ("Europe/Berlin", date(2026, 10, 25), 150, utc(2026, 10, 25, 0, 30), (2, 30)),
        # Lord Howe falls back 02:00 -> 01:30: 01:45 first at +11:00.
        ("Australia/Lord_Howe", date(2026, 4, 5), 105, utc(2026, 4, 4, 14, 45),
         (1, 45)),
    ],
)  # fmt: skip
def test_gap_and_fold_starts_give_exactly_one_occurrence(
    tz, day, minute, instant, wall
):
    info = ZoneInfo(tz)
    around = datetime.combine(day - timedelta(days=2), time(0), tzinfo=info)
    found = occurrences(
        make(tz, minute), around.astimezone(UTC), around + timedelta(days=5)
    )

    assert [o.local_date for o in found] == dates(
        day - timedelta(days=2), day + timedelta(days=2)
    )
    today = [o for o in found if o.local_date == day]
    assert len(today) == 1
    occ = today[0]
    assert occ.starts_at == instant == oracle(day, minute, tz)
    local = occ.starts_at.astimezone(info)
    assert (local.date(), local.hour, local.minute) == (day, *wall)
    assert occ.ends_at - occ.starts_at == timedelta(minutes=60)
    # The neighbours keep their plain wall time.
    for other in found:
        if other.local_date != day:
            shown = other.starts_at.astimezone(info)
            assert shown.hour * 60 + shown.minute == minute


def test_fall_back_day_hour_long_range_has_one_occurrence():
    # Every instant of New York's 25-hour fall-back day, for each possible start.
    day = date(2026, 11, 1)
    start = utc(2026, 11, 1, 4)  # local midnight EDT
    end = utc(2026, 11, 2, 5)  # local midnight EST
    for minute in range(0, 1440, 15):
        found = occurrences(make("America/New_York", minute), start, end)
        assert [o.local_date for o in found] == [day]


def test_spring_forward_day_has_one_occurrence_for_every_start():
    day = date(2026, 3, 8)
    start = utc(2026, 3, 8, 5)  # local midnight EST
    end = utc(2026, 3, 9, 4)  # local midnight EDT
    for minute in range(0, 1440, 15):
        found = occurrences(make("America/New_York", minute), start, end)
        assert [o.local_date for o in found] == [day]
        assert found[0].starts_at == oracle(day, minute, "America/New_York")


# --- Partners in zones whose DST dates differ -------------------------------------


def test_london_evening_seen_from_new_york():
    found = occurrences(make("Europe/London"), utc(2026, 1, 1), utc(2027, 1, 1))
    new_york = ZoneInfo("America/New_York")
    three_pm = set(dates(date(2026, 3, 8), date(2026, 3, 28))) | set(
        dates(date(2026, 10, 25), date(2026, 10, 31))
    )
    assert len(found) == 365
    for occ in found:
        seen = occ.starts_at.astimezone(new_york)
        assert seen.date() == occ.local_date
        expected_hour = 15 if occ.local_date in three_pm else 14
        assert (seen.hour, seen.minute) == (expected_hour, 0), occ.local_date


def test_new_york_evening_seen_from_london_crosses_midnight():
    found = occurrences(
        make("America/New_York"), utc(2026, 1, 1, 12), utc(2027, 1, 1, 12)
    )
    london = ZoneInfo("Europe/London")
    eleven_pm = set(dates(date(2026, 3, 8), date(2026, 3, 28))) | set(
        dates(date(2026, 10, 25), date(2026, 10, 31))
    )
    for occ in found:
        seen = occ.starts_at.astimezone(london)
        if occ.local_date in eleven_pm:
            assert (seen.date(), seen.hour) == (occ.local_date, 23)
        else:
            assert (seen.date(), seen.hour) == (occ.local_date + timedelta(days=1), 0)


def test_kathmandu_evening_seen_from_berlin_shifts_with_berlin_only():
    found = occurrences(make("Asia/Kathmandu"), utc(2026, 3, 27), utc(2026, 3, 31))
    berlin = ZoneInfo("Europe/Berlin")
    seen = [(o.local_date, o.starts_at.astimezone(berlin).time()) for o in found]
    assert seen == [
        (date(2026, 3, 27), time(14, 15)),
        (date(2026, 3, 28), time(14, 15)),
        (date(2026, 3, 29), time(15, 15)),
        (date(2026, 3, 30), time(15, 15)),
    ]


# --- Weekdays, anchor and range boundaries ----------------------------------------


def test_weekday_filtering():
    schedule = make("Europe/Berlin", weekdays={MON, WED, FRI})
    found = occurrences(schedule, utc(2026, 3, 1), utc(2026, 4, 1))
    assert all(o.local_date.weekday() in {MON, WED, FRI} for o in found)
    expected = [
        d
        for d in dates(date(2026, 3, 1), date(2026, 3, 31))
        if d.weekday() in {0, 2, 4}
    ]
    assert [o.local_date for o in found] == expected
    assert len(found) == 13


def test_weekend_only_and_no_weekdays():
    weekend = make("UTC", weekdays={SAT, SUN})
    found = occurrences(weekend, utc(2026, 6, 1), utc(2026, 6, 15))
    assert [o.local_date for o in found] == [
        date(2026, 6, 6),
        date(2026, 6, 7),
        date(2026, 6, 13),
        date(2026, 6, 14),
    ]
    assert (
        occurrences(make("UTC", weekdays=set()), utc(2026, 6, 1), utc(2026, 7, 1)) == []
    )


def test_weekday_is_the_local_one_not_the_utc_one():
    # 08:00 Monday in Auckland is Sunday evening UTC.
    schedule = make("Pacific/Auckland", 8 * 60, weekdays={MON})
    found = occurrences(schedule, utc(2026, 5, 31), utc(2026, 6, 30))
    assert [o.local_date for o in found] == [
        date(2026, 6, 1),
        date(2026, 6, 8),
        date(2026, 6, 15),
        date(2026, 6, 22),
        date(2026, 6, 29),
    ]
    assert found[1].starts_at == utc(2026, 6, 7, 20, 0)
    assert found[1].starts_at.weekday() == SUN


def test_nothing_before_anchor_date():
    schedule = make("America/New_York", anchor=date(2026, 5, 10))
    found = occurrences(schedule, utc(2026, 5, 1), utc(2026, 5, 15))
    assert [o.local_date for o in found] == dates(date(2026, 5, 10), date(2026, 5, 14))
    assert occurrences(schedule, utc(2026, 1, 1), utc(2026, 5, 10)) == []


def test_range_is_half_open():
    schedule = make("Europe/London")
    at = utc(2026, 7, 1, 18)  # 19:00 BST
    assert [o.starts_at for o in occurrences(schedule, at, at + timedelta(days=1))] == [
        at
    ]
    assert occurrences(schedule, at - timedelta(hours=1), at) == []
    assert (
        occurrences(schedule, at + timedelta(microseconds=1), at + timedelta(days=1))
        == []
    )
    assert occurrences(schedule, at, at) == []
    assert occurrences(schedule, at, at - timedelta(days=3)) == []
    two = occurrences(schedule, at, at + timedelta(days=1, microseconds=1))
    assert [o.local_date for o in two] == [date(2026, 7, 1), date(2026, 7, 2)]


def test_range_bounds_in_other_zones_are_the_same_instants():
    schedule = make("Europe/Berlin")
    tokyo = ZoneInfo("Asia/Tokyo")
    start, end = utc(2026, 3, 20), utc(2026, 4, 5)
    assert occurrences(schedule, start.astimezone(tokyo), end.astimezone(tokyo)) == (
        occurrences(schedule, start, end)
    )


def test_naive_bounds_are_refused():
    with pytest.raises(ValueError):
        occurrences(make("UTC"), datetime(2026, 1, 1), utc(2026, 2, 1))
    with pytest.raises(ValueError):
        occurrences(make("UTC"), utc(2026, 1, 1), datetime(2026, 2, 1))


def test_long_range_is_complete():
    schedule = make("Australia/Lord_Howe", 135, weekdays={TUE, SUN})
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    start = datetime(2020, 1, 1, tzinfo=lord_howe)
    found = occurrences(schedule, start, datetime(2040, 1, 1, tzinfo=lord_howe))
    expected = [
        d
        for d in dates(date(2020, 1, 1), date(2039, 12, 31))
        if d.weekday() in {TUE, SUN}
    ]
    assert [o.local_date for o in found] == expected
    for occ in found:
        assert occ.starts_at == oracle(occ.local_date, 135, "Australia/Lord_Howe")
    assert all(
        a.starts_at < b.starts_at for a, b in zip(found, found[1:], strict=False)
    )


def test_next_occurrence():
    schedule = make("America/New_York", weekdays={FRI})
    # Wednesday 2026-03-04 noon New York: next is Friday 19:00 EST.
    nxt = next_occurrence(schedule, utc(2026, 3, 4, 17))
    assert nxt is not None
    assert nxt.local_date == date(2026, 3, 6)
    assert nxt.starts_at == utc(2026, 3, 7, 0)
    # Exactly at a start: that occurrence; a moment later: the next week's.
    assert next_occurrence(schedule, nxt.starts_at) == nxt
    later = next_occurrence(schedule, nxt.starts_at + timedelta(seconds=1))
    assert later is not None and later.local_date == date(2026, 3, 13)
    assert later.starts_at == utc(2026, 3, 13, 23)  # EDT by then
    assert next_occurrence(make("UTC", weekdays=set()), utc(2026, 3, 4)) is None
    future = make("UTC", anchor=date(2026, 6, 1))
    assert next_occurrence(future, utc(2026, 3, 4)) is None
    soon = next_occurrence(future, utc(2026, 5, 25))
    assert soon is not None and soon.local_date == date(2026, 6, 1)


# --- Who teaches first -------------------------------------------------------------


def brute_first_teacher(weekdays: set[int], anchor: date, day: date) -> int:
    count = 0
    d = anchor
    while d < day:
        count += d.weekday() in weekdays
        d += timedelta(days=1)
    return count % 2


def test_every_day_alternates_a_b():
    schedule = make("UTC", anchor=date(2026, 1, 1))
    found = occurrences(schedule, utc(2026, 1, 1), utc(2026, 1, 9))
    assert [o.first_teacher for o in found] == [0, 1, 0, 1, 0, 1, 0, 1]


def test_mon_wed_fri_alternates_by_meeting_not_by_day():
    # 2026-03-02 is a Monday.
    schedule = make("UTC", weekdays={MON, WED, FRI}, anchor=date(2026, 3, 2))
    found = occurrences(schedule, utc(2026, 3, 1), utc(2026, 3, 16))
    assert [(o.local_date.weekday(), o.first_teacher) for o in found] == [
        (MON, 0),
        (WED, 1),
        (FRI, 0),
        (MON, 1),
        (WED, 0),
        (FRI, 1),
    ]


def test_anchor_on_an_unscheduled_day():
    # Anchored on a Sunday, meetings Mon/Wed/Fri: the first meeting is A's.
    schedule = make("UTC", weekdays={MON, WED, FRI}, anchor=date(2026, 3, 1))
    found = occurrences(schedule, utc(2026, 2, 1), utc(2026, 3, 7))
    assert [o.first_teacher for o in found] == [0, 1, 0]
    assert found[0].local_date == date(2026, 3, 2)


@pytest.mark.parametrize(
    "weekdays",
    [ALL_WEEKDAYS, {MON, WED, FRI}, {TUE, THU}, {SAT}, {MON, TUE, WED, THU, FRI}],
)
@pytest.mark.parametrize(
    "day",
    [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2027, 2, 28),
        date(2031, 7, 15),
        date(2049, 12, 31),
    ],
)
def test_first_teacher_far_ahead_matches_brute_force(weekdays, day):
    anchor = date(2026, 3, 2)
    schedule = make("UTC", weekdays=weekdays, anchor=anchor)
    assert first_teacher_for(schedule, day) == brute_first_teacher(
        set(weekdays), anchor, day
    )


@given(
    weekdays=st.frozensets(st.integers(0, 6)),
    anchor_offset=st.integers(0, 6),
    days=st.integers(0, 4000),
)
def test_first_teacher_property(weekdays, anchor_offset, days):
    anchor = date(2026, 3, 2) + timedelta(days=anchor_offset)
    day = anchor + timedelta(days=days)
    schedule = make("UTC", weekdays=weekdays, anchor=anchor)
    assert first_teacher_for(schedule, day) == brute_first_teacher(
        set(weekdays), anchor, day
    )


def test_occurrence_parity_does_not_depend_on_the_range_start():
    schedule = make("Europe/Berlin", weekdays={MON, THU, SAT}, anchor=date(2025, 1, 7))
    whole = occurrences(schedule, utc(2025, 1, 1), utc(2027, 1, 1))
    by_day = {o.local_date: o.first_teacher for o in whole}
    for start in (utc(2025, 6, 3, 17), utc(2026, 3, 29), utc(2026, 10, 25, 18)):
        for occ in occurrences(schedule, start, start + timedelta(days=20)):
            assert occ.first_teacher == by_day[occ.local_date]
            assert occ.first_teacher == first_teacher_for(schedule, occ.local_date)
    assert [by_day[d] for d in sorted(by_day)] == [i % 2 for i in range(len(by_day))]


# --- The session plan ------------------------------------------------------------


@pytest.mark.parametrize(
    "minutes, turns, teach, rate",
    [
        (60, 4, 720, 180),
        (30, 2, 720, 180),
        (90, 6, 720, 180),
        (60, 2, 1620, 180),
        (30, 6, 240, 60),
        (45, 4, 540, 135),
    ],
)
def test_turn_lengths(minutes, turns, teach, rate):
    assert turn_lengths(minutes, turns) == (teach, rate)
    assert (teach + rate) * turns <= minutes * 60


@pytest.mark.parametrize(
    "minutes, turns, first, teachers",
    [
        (60, 4, 0, [0, 1, 0, 1]),
        (60, 4, 1, [1, 0, 1, 0]),
        (30, 2, 0, [0, 1]),
        (90, 6, 1, [1, 0, 1, 0, 1, 0]),
        (60, 2, 1, [1, 0]),
    ],
)
def test_session_plan(minutes, turns, first, teachers):
    teach, rate = turn_lengths(minutes, turns)
    plan = session_plan(turns, first, teach, rate)
    assert [t.teacher for t in plan] == teachers
    assert [t.listener for t in plan] == [1 - t for t in teachers]
    assert [t.index for t in plan] == list(range(turns))
    assert all(t.teach_seconds == teach and t.rate_seconds == rate for t in plan)
    assert plan[0] == PlannedTurn(0, first, 1 - first, teach, rate)
    # Each partner teaches the same number of turns.
    assert teachers.count(0) == teachers.count(1)


def test_session_plan_and_turn_lengths_refuse_nonsense():
    with pytest.raises(ValueError):
        session_plan(4, 2, 720, 180)
    with pytest.raises(ValueError):
        session_plan(0, 0, 720, 180)
    with pytest.raises(ValueError):
        turn_lengths(0, 4)
    with pytest.raises(ValueError):
        turn_lengths(60, 0)


# --- The Schedule value ----------------------------------------------------------


@pytest.mark.parametrize(
    "mask, days",
    [
        (0, set()),
        (1, {MON}),
        (0b1000000, {SUN}),
        (0b0010101, {MON, WED, FRI}),
        (127, set(range(7))),
    ],
)
def test_weekday_masks(mask, days):
    assert weekdays_from_mask(mask) == frozenset(days)
    assert Schedule.weekdays_from_mask(mask) == frozenset(days)
    assert weekdays_to_mask(days) == mask


@pytest.mark.parametrize("mask", [-1, 128, True, "3", None])
def test_bad_weekday_masks(mask):
    with pytest.raises(ValueError):
        weekdays_from_mask(mask)


def test_schedule_defaults_and_validation():
    schedule = Schedule(
        EVENING, "Europe/London", {MON, FRI}, anchor_date=date(2026, 1, 1)
    )
    assert schedule.session_minutes == 60 and schedule.turns == 4
    assert schedule.weekdays == frozenset({MON, FRI})
    assert isinstance(schedule.weekdays, frozenset)
    assert schedule.weekday_mask == 0b10001
    hash(schedule)
    with pytest.raises(AttributeError):
        schedule.turns = 6  # type: ignore[misc]
    bad = [
        {"daily_minute": 1440},
        {"daily_minute": -1},
        {"timezone": "Mars/Olympus_Mons"},
        {"weekdays": frozenset({7})},
        {"weekdays": "MON"},
        {"session_minutes": 0},
        {"turns": 0},
        {"anchor_date": datetime(2026, 1, 1)},
    ]
    base = {
        "daily_minute": EVENING,
        "timezone": "UTC",
        "weekdays": ALL_WEEKDAYS,
        "anchor_date": date(2026, 1, 1),
    }
    for change in bad:
        with pytest.raises((ValueError, KeyError)):
            Schedule(**{**base, **change})


def test_occurrence_is_a_plain_value():
    occ = Occurrence(date(2026, 1, 1), utc(2026, 1, 1, 19), utc(2026, 1, 1, 20), 0)
    assert occ == Occurrence(
        date(2026, 1, 1), utc(2026, 1, 1, 19), utc(2026, 1, 1, 20), 0
    )
    with pytest.raises(AttributeError):
        occ.first_teacher = 1  # type: ignore[misc]


# --- Property: any DST zone, any start, any range up to 60 days ---------------------

DST_ZONES = [
    "America/New_York",
    "America/Denver",
    "America/Santiago",
    "America/Havana",
    "Europe/London",
    "Europe/Berlin",
    "Africa/Cairo",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Pacific/Auckland",
]


def test_property_zones_all_have_dst():
    for tz in DST_ZONES:
        assert offset_changes(tz, 2026), tz


@cache
def transitions(tz: str) -> tuple[tuple[datetime, int], ...]:
    """Each offset change in 2020-2035: its UTC instant and the wall minute before."""
    info = ZoneInfo(tz)
    found = []
    for year in range(2020, 2036):
        for day in offset_changes(tz, year):
            low = datetime.combine(day - timedelta(days=1), time(12), tzinfo=info)
            high = datetime.combine(day, time(12), tzinfo=info)
            low, high = low.astimezone(UTC), high.astimezone(UTC)
            before = low.astimezone(info).utcoffset()
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(info).utcoffset() == before:
                    low = middle
                else:
                    high = middle
            assert before is not None
            # Changes happen on whole minutes: the only one in (low, high].
            instant = high.replace(second=0, microsecond=0)
            wall = instant + before
            found.append((instant, wall.hour * 60 + wall.minute))
    return tuple(found)


@st.composite
def schedule_cases(draw: st.DrawFn) -> tuple[str, int, datetime]:
    """A zone, a daily minute and a range start; often right around a DST change."""
    tz = draw(st.sampled_from(DST_ZONES))
    if draw(st.booleans()):
        instant, wall_minute = draw(st.sampled_from(transitions(tz)))
        minute = (wall_minute + draw(st.integers(-90, 90))) % 1440
        start = instant - timedelta(minutes=draw(st.integers(0, 30 * 1440)))
        return tz, minute, start.replace(second=0, microsecond=0)
    minute = draw(st.integers(0, 1439))
    start = draw(
        st.datetimes(
            min_value=datetime(2020, 1, 1),
            max_value=datetime(2035, 12, 31),
            timezones=st.just(UTC),
        )
    )
    return tz, minute, start


def test_transitions_helper_finds_the_known_ones():
    new_york = [t for t in transitions("America/New_York") if t[0].year == 2026]
    assert new_york == [(utc(2026, 3, 8, 7), 120), (utc(2026, 11, 1, 6), 120)]
    lord_howe = [t for t in transitions("Australia/Lord_Howe") if t[0].year == 2026]
    assert lord_howe == [(utc(2026, 4, 4, 15), 120), (utc(2026, 10, 3, 15, 30), 120)]


@settings(max_examples=400, deadline=None)
@given(
    case=schedule_cases(),
    span_minutes=st.integers(0, 60 * 1440),
    weekdays=st.one_of(
        st.just(ALL_WEEKDAYS), st.frozensets(st.integers(0, 6), min_size=1)
    ),
    anchor_shift=st.integers(-90, 30),
    session_minutes=st.integers(30, 90),
)
def test_occurrence_properties(
    case, span_minutes, weekdays, anchor_shift, session_minutes
):
    tz, minute, start = case
    info = ZoneInfo(tz)
    end = start + timedelta(minutes=span_minutes)
    anchor = start.astimezone(info).date() + timedelta(days=anchor_shift)
    schedule = make(tz, minute, weekdays, anchor, session_minutes)

    found = occurrences(schedule, start, end)

    # One occurrence per eligible local date, judged by an independent oracle.
    first = start.astimezone(info).date() - timedelta(days=1)
    last = end.astimezone(info).date() + timedelta(days=1)
    eligible = [
        d
        for d in dates(first, last)
        if d >= anchor
        and d.weekday() in weekdays
        and start <= oracle(d, minute, tz) < end
    ]
    assert [o.local_date for o in found] == eligible
    # Every local date strictly inside the range that is eligible is present.
    inner = [
        d
        for d in dates(first + timedelta(days=2), last - timedelta(days=2))
        if d >= anchor and d.weekday() in weekdays
    ]
    assert set(inner) <= {o.local_date for o in found}

    for a, b in zip(found, found[1:], strict=False):
        assert a.starts_at < b.starts_at
    for occ in found:
        assert start <= occ.starts_at < end
        assert occ.ends_at - occ.starts_at == timedelta(minutes=session_minutes)
        assert occ.first_teacher == first_teacher_for(schedule, occ.local_date)
        assert occ.starts_at == oracle(occ.local_date, minute, tz)
        local = occ.starts_at.astimezone(info).replace(tzinfo=None)
        wall = datetime.combine(occ.local_date, time(*divmod(minute, 60)))
        if local != wall:
            # Only on a gap day: the wall time does not exist, so it moved later
            # by exactly the gap.
            early = wall.replace(tzinfo=info, fold=0)
            late = wall.replace(tzinfo=info, fold=1)
            assert early.astimezone(UTC) != late.astimezone(UTC)
            assert late.astimezone(UTC).astimezone(info).replace(tzinfo=None) != wall
            gap = abs(early.utcoffset() - late.utcoffset())
            assert gap > timedelta(0)
            assert local == wall + gap
