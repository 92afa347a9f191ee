"""Attendance: the last days at a glance, the streak, and the share attended.

The one rule every page counts by (the dashboard here, the review's table per
partner in services.reviews): a session is *held* when completed or live and
*missed* when missed (cancelled and upcoming ones do not count), over all of
a partnership's history. A student *attended* every held session and every
missed one they came to (their partner was the absent one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

HELD = frozenset({"completed", "live"})
MISSED = "missed"


@dataclass(frozen=True)
class Meeting:
    """One past or current session as attendance sees it."""

    local_date: date
    status: str
    absent: bool  # this user never came in
    # Orders several sessions of one day (a scheduled one and an extra one).
    starts_at: datetime | None = None

    def order(self) -> tuple:
        """Chronological, and the same whatever order the meetings came in."""
        return (
            self.local_date,
            self.starts_at is not None,
            self.starts_at,
            self.status,
        )


@dataclass(frozen=True)
class Day:
    """One day of the recent strip: "held", "missed", "missed-by-you" or "none"."""

    day: date
    state: str


@dataclass(frozen=True)
class Attendance:
    """What the dashboard shows about showing up."""

    days: tuple[Day, ...]
    streak: int
    attended: int
    due: int
    held: int = 0
    missed: int = 0

    @property
    def missed_while_there(self) -> int:
        """Missed sessions this user came to (the partner was absent)."""
        return self.attended - self.held

    @property
    def rate(self) -> float | None:
        """The share of due sessions this user attended (None when none were due)."""
        return self.attended / self.due if self.due else None


def _day_state(meetings: list[Meeting]) -> str:
    if any(m.status in HELD for m in meetings):
        return "held"
    if any(m.status == MISSED and m.absent for m in meetings):
        return "missed-by-you"
    if any(m.status == MISSED for m in meetings):
        return "missed"
    return "none"


def summarize(meetings: Iterable[Meeting], today: date, days: int = 7) -> Attendance:
    """The last `days` days ending today, the streak of held sessions, attendance.

    The streak counts held sessions back from the most recent one that is over,
    stopping at the first missed one (cancelled ones are skipped). Attendance is
    over sessions that were held or missed: attended unless this user was absent.
    """
    ordered = sorted(meetings, key=Meeting.order)
    by_day: dict[date, list[Meeting]] = {}
    for meeting in ordered:
        by_day.setdefault(meeting.local_date, []).append(meeting)
    strip = tuple(
        Day(day, _day_state(by_day.get(day, [])))
        for day in (today - timedelta(days=n) for n in range(days - 1, -1, -1))
    )
    streak = 0
    for meeting in reversed(ordered):
        if meeting.status in HELD:
            streak += 1
        elif meeting.status == MISSED:
            break
    due = [m for m in ordered if m.status in HELD or m.status == MISSED]
    attended = sum(1 for m in due if not m.absent)
    held = sum(1 for m in due if m.status in HELD)
    return Attendance(
        days=strip,
        streak=streak,
        attended=attended,
        due=len(due),
        held=held,
        missed=len(due) - held,
    )
