"""Availability windows, their bitmaps across time zones, and daily start times."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.domain.availability import (
    AvailabilityError,
    Window,
    availability_bitmap,
    daily_overlap_minutes,
    earliest_daily_start,
    format_hhmm,
    has_run,
    horizon,
    make_window,
    normalize_windows,
    parse_hhmm,
    shared_minutes,
    window_bitmap_for_horizon,
)
from ally.domain.timezones import localize

NY = "America/New_York"
LONDON = "Europe/London"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def w(start: str, end: str, weekdays=None) -> Window:
    return make_window(start, end, weekdays)


def shared_on(day: date, day_tz: str, a, tz_a: str, b, tz_b: str) -> int:
    """Minutes a and b share during the local date `day` in day_tz."""
    start, end = localize(day, 0, day_tz), localize(day, 1440, day_tz)
    return shared_minutes(
        window_bitmap_for_horizon(a, tz_a, start, end),
        window_bitmap_for_horizon(b, tz_b, start, end),
    )


def days_from(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


# --- parsing and windows ----------------------------------------------------


@pytest.mark.parametrize(
    "text, minute",
    [("00:00", 0), ("07:05", 425), ("19:30", 1170), ("23:59", 1439), (" 08:00 ", 480)],
)
def test_parse_hhmm(text, minute):
    assert parse_hhmm(text) == minute


@pytest.mark.parametrize(
    "text", ["25:00", "7pm", "12:60", "1:5", "24:00", "7:00", "-1:00"]
)
def test_parse_hhmm_refuses_malformed_or_out_of_range(text):
    with pytest.raises(AvailabilityError) as info:
        parse_hhmm(text)
    assert str(info.value) == f"'{text}' is not a time of day (use HH:MM, 00:00–23:59)"
    assert info.value.message == str(info.value)


def test_parse_hhmm_refuses_empty():
    with pytest.raises(AvailabilityError, match="time of day is required"):
        parse_hhmm("")
    with pytest.raises(AvailabilityError, match="time of day is required"):
        parse_hhmm("   ")


def test_24_00_is_midnight_only_as_an_end():
    assert parse_hhmm("24:00", end=True) == 0
    with pytest.raises(AvailabilityError):
        parse_hhmm("24:01", end=True)
    window = make_window("22:00", "24:00")
    assert window == Window(1320, 0)
    assert window.minutes == 120
    assert window.label() == "22:00–00:00"


def test_availability_error_is_a_value_error():
    assert issubclass(AvailabilityError, ValueError)


@pytest.mark.parametrize(
    "minute, text", [(0, "00:00"), (425, "07:05"), (1439, "23:59"), (1440, "00:00")]
)
def test_format_hhmm(minute, text):
    assert format_hhmm(minute) == text
    assert format_hhmm(minute + 1440) == text


def test_window_minutes_and_labels():
    assert w("19:00", "21:30").minutes == 150
    assert w("22:00", "01:00").minutes == 180
    assert w("22:00", "01:00").crosses_midnight
    assert not w("19:00", "21:30").crosses_midnight
    assert w("22:00", "01:00").label() == "22:00–01:00"
    assert w("19:00", "21:30", [WED, MON]).label() == "19:00–21:30 (Mon, Wed)"


def test_window_weekdays_are_normalised():
    assert w("19:00", "20:00", range(7)).weekdays is None
    assert w("19:00", "20:00", [MON, MON, FRI]).weekdays == frozenset({MON, FRI})
    assert w("19:00", "20:00", (FRI, MON)) == w("19:00", "20:00", [MON, FRI])
    assert hash(w("19:00", "20:00", (FRI, MON))) == hash(
        w("19:00", "20:00", [MON, FRI])
    )


def test_make_window_refusals():
    with pytest.raises(AvailabilityError, match="pick at least one weekday"):
        w("19:00", "20:00", [])
    with pytest.raises(AvailabilityError, match="7 is not a weekday"):
        w("19:00", "20:00", [7])
    with pytest.raises(AvailabilityError, match="is not a weekday"):
        w("19:00", "20:00", [True])
    with pytest.raises(AvailabilityError, match="the end must differ from the start"):
        w("19:00", "19:00")
    with pytest.raises(AvailabilityError, match="'19' is not a time of day"):
        w("19", "20:00")
    with pytest.raises(AvailabilityError, match="the end must differ"):
        Window(600, 600)
    with pytest.raises(AvailabilityError, match="not a minute of the day"):
        Window(0, 1440)


# --- normalize_windows --------------------------------------------------------


def test_normalize_merges_overlapping_and_touching_windows():
    result = normalize_windows(
        [w("20:00", "22:00"), w("19:00", "20:30"), w("22:00", "23:00")]
    )
    assert result == (Window(1140, 1380),)


def test_normalize_merges_across_midnight():
    assert normalize_windows([w("22:00", "01:00"), w("00:30", "02:00")]) == (
        Window(1320, 120),
    )
    assert normalize_windows([w("23:00", "00:00"), w("00:00", "01:00")]) == (
        Window(1380, 60),
    )


def test_normalize_sorts_and_keeps_separate_windows():
    result = normalize_windows(
        [w("19:00", "21:00"), w("07:00", "08:00"), w("12:00", "13:00", [SAT])]
    )
    assert result == (
        Window(420, 480),
        Window(720, 780, frozenset({SAT})),
        Window(1140, 1260),
    )


def test_normalize_merges_same_weekdays_but_not_across_their_midnight():
    # Monday 22:00–01:00 runs into Tuesday, not into Monday's 00:30: no clash.
    result = normalize_windows([w("22:00", "01:00", [MON]), w("00:30", "02:00", [MON])])
    assert result == (
        Window(30, 120, frozenset({MON})),
        Window(1320, 60, frozenset({MON})),
    )
    merged = normalize_windows(
        [w("19:00", "20:00", [MON, WED]), w("19:30", "21:00", [WED, MON])]
    )
    assert merged == (Window(1140, 1260, frozenset({MON, WED})),)


def test_normalize_refuses_same_weekdays_clashing_across_midnight():
    with pytest.raises(AvailabilityError) as info:
        normalize_windows(
            [w("22:00", "01:00", [MON, TUE]), w("00:30", "02:00", [MON, TUE])]
        )
    assert str(info.value) == (
        "00:30–02:00 (Mon, Tue) and 22:00–01:00 (Mon, Tue) overlap on Tue; "
        "merge them or pick other weekdays"
    )


def test_normalize_refuses_whole_day():
    with pytest.raises(AvailabilityError, match="a window cannot cover the whole day"):
        normalize_windows([w("00:00", "12:00"), w("12:00", "00:00")])
    with pytest.raises(AvailabilityError, match="a window cannot cover the whole day"):
        normalize_windows([w("22:00", "06:00"), w("05:00", "22:30")])


def test_normalize_refuses_different_weekdays_overlapping():
    with pytest.raises(AvailabilityError) as info:
        normalize_windows([w("19:00", "21:00"), w("20:00", "22:00", [SAT, SUN])])
    assert str(info.value) == (
        "19:00–21:00 and 20:00–22:00 (Sat, Sun) overlap on Sat; "
        "merge them or pick other weekdays"
    )
    # Sunday's late window runs into Monday morning.
    with pytest.raises(AvailabilityError, match="overlap on Mon"):
        normalize_windows([w("23:00", "02:00", [SUN]), w("01:00", "03:00", [MON])])


def test_normalize_allows_different_weekdays_that_only_touch_or_differ():
    result = normalize_windows(
        [
            w("19:00", "21:00", [MON]),
            w("20:00", "22:00", [TUE]),
            w("21:00", "22:00", [MON]),  # merges with Monday's
            w("22:00", "23:00"),  # touches both
        ]
    )
    assert result == (
        Window(1140, 1320, frozenset({MON})),
        Window(1200, 1320, frozenset({TUE})),
        Window(1320, 1380),
    )


def test_normalize_limits_the_count():
    six = [w(f"{h:02d}:00", f"{h:02d}:30") for h in range(0, 12, 2)]
    assert len(normalize_windows(six)) == 6
    with pytest.raises(AvailabilityError) as info:
        normalize_windows([*six, w("20:00", "21:00")])
    assert str(info.value) == "at most 6 availability windows"
    # Counted after merging: two that merge count once.
    assert len(normalize_windows([*six, w("10:30", "11:00")])) == 6
    with pytest.raises(AvailabilityError, match="at most 3 availability windows"):
        normalize_windows(six[:4], max_windows=3)


def test_normalize_empty():
    assert normalize_windows([]) == ()


# --- bitmaps ------------------------------------------------------------------


def test_availability_bitmap_in_utc():
    bits = availability_bitmap((w("01:00", "02:30"),), "UTC", date(2026, 1, 5), 2)
    expected = (((1 << 90) - 1) << 60) | (((1 << 90) - 1) << (1440 + 60))
    assert bits == expected


def test_availability_bitmap_clips_to_the_span():
    # The window of the day before the anchor reaches 1 h into the span; the
    # last day's crosses out of it.
    bits = availability_bitmap((w("23:00", "01:00"),), "UTC", date(2026, 1, 5), 1)
    assert bits == ((1 << 60) - 1) | (((1 << 60) - 1) << (23 * 60))


def test_availability_bitmap_reaches_back_two_local_dates():
    # UTC-12: a 23:00–22:00 window on local Jan 3 ends at UTC Jan 5 10:00.
    bits = availability_bitmap(
        (w("23:00", "22:00", [SAT]),), "Etc/GMT+12", date(2026, 1, 5), 1
    )
    assert date(2026, 1, 3).weekday() == SAT
    assert bits == (1 << 600) - 1


def test_window_bitmap_for_horizon_starts_at_bit_zero():
    start, end = utc(2026, 1, 5, 18, 30), utc(2026, 1, 6, 18, 30)
    bits = window_bitmap_for_horizon((w("19:00", "20:00"),), "UTC", start, end)
    assert bits == ((1 << 60) - 1) << 30
    assert bits.bit_length() <= 1440


def test_horizon_is_seven_local_days():
    now = utc(2026, 1, 10, 3, 0)  # still Jan 9 in New York
    assert horizon(now, NY) == (utc(2026, 1, 9, 5, 0), utc(2026, 1, 16, 5, 0))
    assert horizon(now, "Asia/Tokyo", days=1) == (
        utc(2026, 1, 9, 15, 0),
        utc(2026, 1, 10, 15, 0),
    )
    # The week of the US spring change is an hour shorter.
    start, end = horizon(utc(2026, 3, 5, 12), NY)
    assert end - start == timedelta(days=7, hours=-1)


def test_new_york_evening_meets_london_night_winter():
    # 19:00–21:00 EST is 00:00–02:00 UTC, London's 00:00–02:00 GMT exactly.
    ny, london = (w("19:00", "21:00"),), (w("00:00", "02:00"),)
    assert shared_on(date(2026, 1, 20), LONDON, ny, NY, london, LONDON) == 120
    start, end = horizon(utc(2026, 1, 20, 12), NY)
    a = window_bitmap_for_horizon(ny, NY, start, end)
    b = window_bitmap_for_horizon(london, LONDON, start, end)
    # The New York week runs 05:00 UTC Jan 20 to 05:00 UTC Jan 27: seven NY
    # evenings, each meeting the London night that follows it.
    assert shared_minutes(a, b) == 7 * 120
    assert daily_overlap_minutes(shared_minutes(a, b)) == 120


def test_spring_weeks_when_us_and_eu_clocks_differ():
    # US clocks change 2026-03-08, UK 2026-03-29: for three weeks New York is
    # 4 h behind London instead of 5, and the shared time halves.
    ny, london = (w("19:00", "21:00"),), (w("00:00", "02:00"),)
    per_day = {
        d: shared_on(d, LONDON, ny, NY, london, LONDON)
        for d in days_from(date(2026, 3, 6), 26)
    }
    expected = {}
    for d in per_day:
        if date(2026, 3, 9) <= d <= date(2026, 3, 29):
            expected[d] = 60
        else:
            expected[d] = 120
    assert per_day == expected


def test_autumn_weeks_when_us_and_eu_clocks_differ():
    # UK clocks go back 2026-10-25, US 2026-11-01.
    ny, london = (w("19:00", "21:00"),), (w("00:00", "02:00"),)
    per_day = {
        d: shared_on(d, LONDON, ny, NY, london, LONDON)
        for d in days_from(date(2026, 10, 22), 14)
    }
    expected = {
        d: 60 if date(2026, 10, 26) <= d <= date(2026, 11, 1) else 120 for d in per_day
    }
    assert per_day == expected


def test_window_spanning_the_change_is_as_long_as_the_clock_says():
    # London 00:00–02:00 on 2026-03-29 loses the hour 01:00–02:00: 60 real
    # minutes; on 2026-10-25 01:00–02:00 happens twice: 180 real minutes.
    london = (w("00:00", "02:00"),)
    everything = (w("00:00", "23:59"), w("23:59", "00:00"))
    assert shared_on(date(2026, 3, 29), LONDON, london, LONDON, everything, "UTC") == 60
    assert (
        shared_on(date(2026, 10, 25), LONDON, london, LONDON, everything, "UTC") == 180
    )
    assert (
        shared_on(date(2026, 10, 24), LONDON, london, LONDON, everything, "UTC") == 120
    )


def test_cross_midnight_window_across_zones():
    # Tokyo 22:00–01:00 (UTC+9) is 13:00–16:00 UTC; meets UTC 15:00–17:00 for 1 h.
    tokyo = (w("22:00", "01:00"),)
    utc_evening = (w("15:00", "17:00"),)
    start, end = utc(2026, 1, 5), utc(2026, 1, 12)
    a = window_bitmap_for_horizon(tokyo, "Asia/Tokyo", start, end)
    b = window_bitmap_for_horizon(utc_evening, "UTC", start, end)
    assert shared_minutes(a, b) == 7 * 60
    assert has_run(a, 180) and not has_run(a, 181)


def test_weekday_limited_windows():
    start, end = utc(2026, 1, 5), utc(2026, 1, 12)  # Monday to Monday
    a = window_bitmap_for_horizon((w("19:00", "21:00", [MON, WED]),), "UTC", start, end)
    b = window_bitmap_for_horizon((w("20:00", "22:00"),), "UTC", start, end)
    assert shared_minutes(a, b) == 2 * 60
    # A Monday window crossing midnight belongs to Monday but ends on Tuesday.
    late = window_bitmap_for_horizon((w("23:00", "01:00", [MON]),), "UTC", start, end)
    early = window_bitmap_for_horizon((w("00:00", "01:00"),), "UTC", start, end)
    assert shared_minutes(late, early) == 60
    tuesday = window_bitmap_for_horizon(
        (w("00:00", "01:00", [TUE]),), "UTC", start, end
    )
    assert shared_minutes(late, tuesday) == 60
    monday = window_bitmap_for_horizon((w("00:00", "01:00", [MON]),), "UTC", start, end)
    assert shared_minutes(late, monday) == 0


def test_weekday_is_the_local_day():
    # Tokyo Monday 08:00–09:00 is Sunday 23:00–24:00 UTC.
    start, end = utc(2026, 1, 4), utc(2026, 1, 11)  # Sunday to Sunday
    tokyo = window_bitmap_for_horizon(
        (w("08:00", "09:00", [MON]),), "Asia/Tokyo", start, end
    )
    sunday = window_bitmap_for_horizon((w("23:00", "23:30", [SUN]),), "UTC", start, end)
    monday = window_bitmap_for_horizon((w("23:00", "23:30", [MON]),), "UTC", start, end)
    assert shared_minutes(tokyo, sunday) == 30
    assert shared_minutes(tokyo, monday) == 0


def test_kathmandu_quarter_hour_overlap():
    # Kathmandu 06:00–08:00 (+05:45) is 00:15–02:15 UTC.
    ktm = (w("06:00", "08:00"),)
    assert (
        shared_on(
            date(2026, 1, 20),
            "UTC",
            ktm,
            "Asia/Kathmandu",
            (w("00:00", "01:00"),),
            "UTC",
        )
        == 45
    )
    # Kolkata 09:00–10:00 (+05:30) is 03:30–04:30; Kathmandu's 03:15–04:15.
    assert (
        shared_on(
            date(2026, 1, 20),
            "UTC",
            (w("09:00", "10:00"),),
            "Asia/Kolkata",
            (w("09:00", "10:00"),),
            "Asia/Kathmandu",
        )
        == 45
    )


def test_cache_is_shared_between_calls():
    availability_bitmap.cache_clear()
    windows = (w("19:00", "21:00"),)
    for hour in (3, 9, 15):
        start = utc(2026, 1, 20, hour)
        window_bitmap_for_horizon(windows, NY, start, start + timedelta(days=7))
    info = availability_bitmap.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_shared_minutes_and_daily_overlap():
    assert shared_minutes(0b1110, 0b0111) == 2
    assert daily_overlap_minutes(7 * 90) == 90
    assert daily_overlap_minutes(7 * 90 + 3) == 90
    assert daily_overlap_minutes(7 * 90 + 4) == 91
    assert daily_overlap_minutes(60, days=2) == 30


# --- runs -----------------------------------------------------------------------


def test_has_run_examples():
    assert has_run(0b0111_0110, 3)
    assert not has_run(0b0111_0110, 4)
    assert has_run(0, 0)
    assert not has_run(0, 1)
    assert has_run(((1 << 60) - 1) << 1000, 60)
    assert not has_run(((1 << 59) - 1) << 1000 | 1 << 1060, 60)


def naive_longest_run(x: int) -> int:
    return max((len(part) for part in bin(x)[2:].split("0")), default=0)


@given(st.integers(min_value=0, max_value=(1 << 300) - 1), st.integers(1, 130))
def test_has_run_matches_a_naive_scan(bitmap, length):
    assert has_run(bitmap, length) == (naive_longest_run(bitmap) >= length)


# --- earliest_daily_start ----------------------------------------------------------


def test_earliest_daily_start_same_zone():
    a, b = (w("18:00", "22:00"),), (w("19:30", "23:00"),)
    now = utc(2026, 1, 20, 12)
    assert earliest_daily_start(a, "UTC", b, "UTC", "UTC", now, 60) == 19 * 60 + 30
    assert earliest_daily_start(a, "UTC", b, "UTC", "UTC", now, 150) == 19 * 60 + 30
    assert earliest_daily_start(a, "UTC", b, "UTC", "UTC", now, 151) is None


def test_earliest_daily_start_respects_step():
    a, b = (w("18:02", "22:00"),), (w("18:00", "23:00"),)
    now = utc(2026, 1, 20, 12)
    assert earliest_daily_start(a, "UTC", b, "UTC", "UTC", now, 60) == 18 * 60 + 5
    assert (
        earliest_daily_start(a, "UTC", b, "UTC", "UTC", now, 60, step=1) == 18 * 60 + 2
    )


def test_earliest_daily_start_none_without_overlap():
    a, b = (w("08:00", "10:00"),), (w("18:00", "23:00"),)
    assert earliest_daily_start(a, "UTC", b, "UTC", "UTC", utc(2026, 1, 20), 30) is None


def test_earliest_daily_start_across_zones_in_winter():
    ny, london = (w("19:00", "22:00"),), (w("00:00", "03:00"),)
    now = utc(2026, 1, 10, 12)
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 60) == 19 * 60
    # The same time fixed in London's zone is 00:00.
    assert earliest_daily_start(ny, NY, london, LONDON, LONDON, now, 60) == 0


def test_earliest_daily_start_in_the_us_only_dst_weeks():
    # New York on EDT, London still on GMT: they share 00:00–02:00 UTC,
    # which is 20:00–22:00 in New York.
    ny, london = (w("19:00", "22:00"),), (w("00:00", "03:00"),)
    now = utc(2026, 3, 9, 12)
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 60) == 20 * 60
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 120) == 20 * 60
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 121) is None


def test_earliest_daily_start_prefers_the_most_days():
    # Week of 2026-03-05 in New York: three EST days (19:00–22:00 shared), then
    # four EDT days (20:00–22:00 shared).
    ny, london = (w("19:00", "22:00"),), (w("00:00", "03:00"),)
    now = utc(2026, 3, 5, 12)
    # 19:00 fits three days only; 20:00 fits all seven.
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 60) == 20 * 60
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 120) == 20 * 60
    # 150 minutes only fit on the EST days, from 19:00 to 19:30.
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 150) == 19 * 60
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 180) == 19 * 60
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 181) is None


def test_earliest_daily_start_on_clock_change_nights():
    # Both in New York, available 01:00–04:00 local every night. On 2026-03-08
    # 02:00–03:00 does not exist: 01:00 EST to 04:00 EDT is two real hours.
    night = (w("01:00", "04:00"),)
    spring = utc(2026, 3, 5, 12)
    assert earliest_daily_start(night, NY, night, NY, NY, spring, 120) == 60
    # 150 real minutes fit 01:00–01:30 on the six ordinary nights only.
    assert earliest_daily_start(night, NY, night, NY, NY, spring, 150) == 60
    assert earliest_daily_start(night, NY, night, NY, NY, spring, 180) == 60
    # On 2026-11-01 01:00–02:00 happens twice: that night lasts four real hours,
    # but four hours fit no other night, so one night is the best there is.
    autumn = utc(2026, 10, 29, 12)
    assert earliest_daily_start(night, NY, night, NY, NY, autumn, 240) == 60
    assert earliest_daily_start(night, NY, night, NY, NY, autumn, 241) is None


def test_earliest_daily_start_counts_days_with_a_shifted_partner():
    # A in New York 20:00–23:00; B in London 01:00–03:00. In the week of
    # 2026-03-05 (NY), 20:00 EST = 01:00 GMT fits on the three EST days;
    # 20:00 EDT = 00:00 GMT does not, but 21:00 EDT = 01:00 GMT fits the four
    # EDT days and 21:00 EST = 02:00 GMT fits the EST days too.
    ny, london = (w("20:00", "23:00"),), (w("01:00", "03:00"),)
    now = utc(2026, 3, 5, 12)
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 60) == 21 * 60
    # 120 minutes: 20:00 on the three EST days or 21:00 on the four EDT days.
    assert earliest_daily_start(ny, NY, london, LONDON, NY, now, 120) == 21 * 60


# --- properties -----------------------------------------------------------------


def week_minutes(windows) -> set[int]:
    return {
        (day * 1440 + window.start + k) % (7 * 1440)
        for window in windows
        for day in window.days()
        for k in range(window.minutes)
    }


window_strategy = st.builds(
    lambda start, length, days: Window(start, (start + length) % 1440, days),
    st.integers(0, 1439),
    st.integers(1, 1439),
    st.one_of(st.none(), st.frozensets(st.integers(0, 6), min_size=1)),
)


@given(st.lists(window_strategy, min_size=1, max_size=5))
def test_normalize_keeps_exactly_the_same_minutes(windows):
    try:
        result = normalize_windows(windows, max_windows=100)
    except AvailabilityError as exc:
        assert "cannot cover the whole day" in str(exc) or "overlap on" in str(exc)
        return
    assert week_minutes(result) == week_minutes(windows)
    # No two windows of the result share a minute.
    assert sum(w.minutes * len(w.days()) for w in result) == len(week_minutes(result))
    assert list(result) == sorted(result, key=lambda w: (w.start, w.end))
