"""Predict, then re-check: the delayed re-check's window and what it accepts.

Pure rules over plain values (`now` passed in), also in docs/review.md:

- The re-check asks the teacher of a turn, the next day, how simply they could
  explain its topic now (1 to 5, the scale of every rating).
- It opens 12 hours after the turn ended and closes 7 days after; both edges
  belong to the window (at exactly 12 hours it is open, at exactly 7 days
  still open, a moment later closed).
- It is given once; only a turn that was taught (started and ended) has one.
- The invitation goes out once the window is open, for a turn with a topic,
  and never after the window closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

RECHECK_OPENS_AFTER = timedelta(hours=12)
RECHECK_CLOSES_AFTER = timedelta(days=7)
SIMPLICITY_MIN, SIMPLICITY_MAX = 1, 5
SIMPLICITY_SCALE = tuple(range(SIMPLICITY_MIN, SIMPLICITY_MAX + 1))
NOT_A_SIMPLICITY = (
    f"simplicity must be a whole number from {SIMPLICITY_MIN} to {SIMPLICITY_MAX}."
)
# What each point of the scale means for the re-check ("how simply now?").
SCALE_WORDS = {
    1: "I would lose them",
    2: "Hard to follow",
    3: "Mostly clear",
    4: "Clear",
    5: "A 12-year-old would get it",
}
RECHECK_QUESTION = (
    "Explain {topic} to yourself in one minute — how simply could you now?"
)
UNTITLED = "what you taught"


class WindowState(StrEnum):
    """Where an instant sits against a turn's re-check window."""

    EARLY = "early"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class RecheckWindow:
    """When a turn's re-check can be given."""

    opens_at: datetime
    closes_at: datetime

    def state(self, now: datetime) -> WindowState:
        """Early, open (edges included) or closed at `now`."""
        if now < self.opens_at:
            return WindowState.EARLY
        if now > self.closes_at:
            return WindowState.CLOSED
        return WindowState.OPEN


def window(ended_at: datetime) -> RecheckWindow:
    """The re-check window of a turn that ended at `ended_at`."""
    return RecheckWindow(
        ended_at + RECHECK_OPENS_AFTER, ended_at + RECHECK_CLOSES_AFTER
    )


def simplicity_problem(value: Any) -> str | None:
    """Why `value` is not a simplicity of the scale (None if it is one).

    Booleans, floats and numeric strings are refused: JSON gives a number."""
    if isinstance(value, bool) or not isinstance(value, int):
        return NOT_A_SIMPLICITY
    if not SIMPLICITY_MIN <= value <= SIMPLICITY_MAX:
        return NOT_A_SIMPLICITY
    return None


def question(topic: str | None) -> str:
    """The re-check's question for a topic ("what you taught" without one)."""
    return RECHECK_QUESTION.format(topic=topic or UNTITLED)


def invitation_window(now: datetime) -> tuple[datetime, datetime]:
    """The turns' end instants whose re-check window is open at `now`:
    ended from 7 days before `now` up to 12 hours before it (both included)."""
    return now - RECHECK_CLOSES_AFTER, now - RECHECK_OPENS_AFTER
