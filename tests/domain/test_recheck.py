"""The re-check's rules: its window (edges included), the scale, the question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ally.domain import recheck as rules

ENDED = datetime(2026, 3, 10, 18, 9, tzinfo=UTC)
TICK = timedelta(microseconds=1)
HOURS_12, DAYS_7 = timedelta(hours=12), timedelta(days=7)


@pytest.mark.parametrize(
    ("after", "state"),
    [
        (timedelta(0), "early"),
        (HOURS_12 - TICK, "early"),
        (HOURS_12, "open"),  # exactly 12 hours: open
        (HOURS_12 + TICK, "open"),
        (timedelta(days=3), "open"),
        (DAYS_7 - TICK, "open"),
        (DAYS_7, "open"),  # exactly 7 days: still open
        (DAYS_7 + TICK, "closed"),
        (timedelta(days=30), "closed"),
    ],
)
def test_the_window_opens_at_12_hours_and_closes_after_7_days(after, state):
    assert rules.window(ENDED).state(ENDED + after) == state


def test_the_window_is_named_once():
    span = rules.window(ENDED)
    assert (span.opens_at, span.closes_at) == (ENDED + HOURS_12, ENDED + DAYS_7)
    assert rules.invitation_window(ENDED + DAYS_7) == (ENDED, ENDED + DAYS_7 - HOURS_12)


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
def test_every_point_of_the_scale_is_a_simplicity(value):
    assert rules.simplicity_problem(value) is None


@pytest.mark.parametrize("value", [0, 6, -1, 3.0, 2.5, "3", True, False, None, [3]])
def test_anything_else_is_refused_with_one_message(value):
    assert rules.simplicity_problem(value) == (
        "simplicity must be a whole number from 1 to 5."
    )


def test_the_question_names_the_topic():
    assert rules.question("RAAS") == (
        "Explain RAAS to yourself in one minute — how simply could you now?"
    )
    assert rules.question(None).startswith("Explain what you taught to yourself")


def test_each_point_of_the_scale_has_words():
    assert set(rules.SCALE_WORDS) == set(rules.SIMPLICITY_SCALE) == {1, 2, 3, 4, 5}
