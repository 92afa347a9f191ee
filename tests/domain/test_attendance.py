"""Attendance: the 7-day strip, the streak of held sessions, and the share attended."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ally.domain.attendance import Attendance, Day, Meeting, summarize

TODAY = date(2026, 3, 10)


def ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def m(days_ago: int, status: str, absent: bool = False) -> Meeting:
    return Meeting(ago(days_ago), status, absent)


def states(result: Attendance) -> list[str]:
    return [d.state for d in result.days]


def test_nothing_yet():
    result = summarize([], TODAY)
    assert result.days == tuple(Day(ago(n), "none") for n in range(6, -1, -1))
    assert (result.streak, result.attended, result.due) == (0, 0, 0)
    assert result.rate is None


def test_the_strip_is_the_last_seven_days_oldest_first():
    meetings = [
        m(7, "completed"),  # one day too old for the strip
        m(6, "completed"),
        m(5, "missed", absent=True),
        m(4, "missed", absent=False),  # the partner did not come
        m(3, "cancelled"),
        # 2 days ago: no session
        m(1, "live"),  # still going counts as held
        m(0, "scheduled"),  # later today: not yet anything
    ]
    result = summarize(meetings, TODAY)
    assert [d.day for d in result.days] == [ago(n) for n in range(6, -1, -1)]
    assert states(result) == [
        "held",
        "missed-by-you",
        "missed",
        "none",
        "none",
        "held",
        "none",
    ]


@pytest.mark.parametrize(
    ("day", "state"),
    [
        pytest.param([m(0, "missed", True), m(0, "completed")], "held", id="held-wins"),
        pytest.param(
            [m(0, "missed", False), m(0, "missed", True)],
            "missed-by-you",
            id="your-absence-wins-over-theirs",
        ),
        pytest.param([m(0, "cancelled"), m(0, "missed")], "missed", id="missed"),
        pytest.param([m(0, "cancelled")], "none", id="cancelled-only"),
        pytest.param([m(0, "open")], "none", id="open"),
    ],
)
def test_a_day_with_several_sessions(day, state):
    assert states(summarize(day, TODAY))[-1] == state


def test_the_strip_length_follows_days():
    result = summarize([m(13, "completed"), m(2, "missed", True)], TODAY, days=14)
    assert len(result.days) == 14
    assert result.days[0] == Day(ago(13), "held")
    assert result.days[-3] == Day(ago(2), "missed-by-you")


@pytest.mark.parametrize(
    ("meetings", "streak"),
    [
        pytest.param([m(3, "completed"), m(2, "completed")], 2, id="two-held"),
        pytest.param(
            [m(4, "completed"), m(3, "missed", True), m(2, "completed"), m(1, "live")],
            2,
            id="stops-at-a-missed-one",
        ),
        pytest.param(
            [m(4, "completed"), m(3, "missed", False), m(2, "completed")],
            1,
            id="a-partner-no-show-breaks-it-too",
        ),
        pytest.param(
            [
                m(5, "completed"),
                m(4, "cancelled"),
                m(3, "completed"),
                m(1, "cancelled"),
            ],
            2,
            id="cancelled-ones-are-skipped",
        ),
        pytest.param([m(2, "completed"), m(0, "missed", True)], 0, id="latest-missed"),
        pytest.param([m(1, "cancelled"), m(0, "cancelled")], 0, id="only-cancelled"),
        pytest.param(
            [m(40 - n, "completed") for n in range(30)], 30, id="longer-than-the-strip"
        ),
    ],
)
def test_streak(meetings, streak):
    assert summarize(meetings, TODAY).streak == streak
    # The order meetings come in does not matter (they are on distinct dates).
    assert summarize(list(reversed(meetings)), TODAY).streak == streak


def test_streak_does_not_depend_on_the_order_of_same_day_sessions():
    # A missed scheduled hour and a completed extra session on the same date.
    missed_then_held = [m(1, "completed"), m(0, "missed", True), m(0, "completed")]
    held_then_missed = [m(1, "completed"), m(0, "completed"), m(0, "missed", True)]
    assert (
        summarize(missed_then_held, TODAY).streak
        == summarize(held_then_missed, TODAY).streak
    )


def test_attendance_counts_held_and_missed_sessions():
    meetings = [
        m(9, "completed"),  # outside the strip, still counted
        m(6, "completed"),
        m(5, "missed", absent=True),  # you were not there
        m(4, "missed", absent=False),  # you were, your partner was not
        m(3, "cancelled"),  # not due
        m(2, "live"),
        m(0, "open"),  # not due yet
    ]
    result = summarize(meetings, TODAY)
    assert (result.attended, result.due) == (4, 5)
    assert result.rate == pytest.approx(0.8)


def test_rate_when_always_absent_and_always_there():
    assert summarize([m(1, "missed", True), m(0, "missed", True)], TODAY).rate == 0
    assert summarize([m(1, "completed"), m(0, "missed")], TODAY).rate == 1
    assert Attendance(days=(), streak=0, attended=0, due=0).rate is None
