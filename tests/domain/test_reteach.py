"""The re-teach schedule's rules: the rating mapping, a deterministic FSRS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fsrs import Rating, State

from ally.domain import reteach as rules

START = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return START + timedelta(days=n)


@pytest.mark.parametrize(
    ("simplicity", "rating"),
    [
        (1, Rating.Again),
        (2, Rating.Again),
        (3, Rating.Hard),
        (4, Rating.Good),
        (5, Rating.Easy),
    ],
)
def test_simplicity_maps_to_an_fsrs_rating(simplicity, rating):
    assert rules.rating_for(simplicity) is rating


@pytest.mark.parametrize("bad", [0, 6, -1])
def test_simplicity_out_of_range_is_refused(bad):
    with pytest.raises(ValueError):
        rules.rating_for(bad)


def test_a_first_review_starts_a_card_in_whole_days():
    for simplicity, first_interval in ((1, 1), (3, 1), (4, 2), (5, 8)):
        card = rules.review(None, simplicity, day(0))
        assert card.reviews == 1
        assert card.state == State.Review and card.step is None
        assert card.last_review_at == day(0)
        assert card.due_at == day(first_interval), simplicity


def test_a_lapse_comes_back_sooner_than_a_success():
    good = rules.replay([(day(0), 4), (day(2), 4)])
    lapse = rules.replay([(day(0), 4), (day(2), 1)])
    assert lapse.due_at == day(3)  # Again: tomorrow (no relearning steps)
    assert lapse.stability < good.stability and good.due_at > day(5)
    assert lapse.difficulty > good.difficulty


def test_the_schedule_is_deterministic_no_fuzz():
    """Long intervals (where fsrs would fuzz) come out the same every time."""
    reviews = [(day(0), 5), (day(8), 5), (day(40), 5), (day(200), 4)]
    first = rules.replay(reviews)
    assert (first.due_at - first.last_review_at).days > 30  # fuzz would apply
    assert all(rules.replay(reviews) == first for _ in range(50))
    assert not rules.scheduler().enable_fuzzing


def test_replay_equals_reviewing_one_by_one():
    reviews = [(day(0), 3), (day(1), 2), (day(4), 4), (day(11), 5)]
    card = None
    for at, simplicity in reviews:
        card = rules.review(card, simplicity, at)
    assert rules.replay(reviews) == card
    assert rules.replay([]) is None


def test_a_stored_card_round_trips_through_fsrs():
    card = rules.replay([(day(0), 3), (day(3), 1)])
    assert rules.from_fsrs(rules.to_fsrs(card), card.reviews) == card


def test_instants_in_other_zones_are_the_same_instant():
    tokyo = day(0).astimezone(ZoneInfo("Asia/Tokyo"))
    assert rules.review(None, 4, tokyo) == rules.review(None, 4, day(0))
    with pytest.raises(ValueError):
        rules.review(None, 4, day(0).replace(tzinfo=None))


def test_retrievability_falls_from_one_and_reaches_the_aim_when_due():
    card = rules.replay([(day(0), 4), (day(2), 4)])
    assert rules.retrievability(card, day(2)) == 1.0
    at_due = rules.retrievability(card, card.due_at)
    later = rules.retrievability(card, card.due_at + timedelta(days=30))
    assert at_due == pytest.approx(0.9, abs=0.02)
    assert 0 < later < at_due < 1
    assert not rules.is_due(card, card.due_at - timedelta(seconds=1))
    assert rules.is_due(card, card.due_at)


def test_a_lower_aim_brings_a_topic_back_later():
    reviews = [(day(0), 4), (day(2), 4), (day(9), 4)]
    assert (
        rules.replay(reviews, 0.8).due_at
        > rules.replay(reviews).due_at
        > rules.replay(reviews, 0.97).due_at
    )


@pytest.mark.parametrize("bad", [0.5, 0.69, 0.995, 1.0])
def test_the_desired_retention_has_bounds(bad):
    with pytest.raises(ValueError):
        rules.check_retention(bad)
    with pytest.raises(ValueError):
        rules.scheduler(bad)


def test_the_curve_resets_at_each_review_and_is_thinned_when_long():
    points = rules.curve([(day(0), 3), (day(5), 4)], day(12))
    assert points[0] == (day(0), 1.0) and (day(5), 1.0) in points
    assert [at for at, _ in points] == sorted(at for at, _ in points)
    between = [r for at, r in points if day(0) < at < day(5)]
    assert len(between) == 4 and between == sorted(between, reverse=True)
    # It runs to the due date when that is later than now, else to now.
    due = rules.replay([(day(0), 3), (day(5), 4)]).due_at
    assert due > day(12) and points[-1][0] == due
    assert rules.curve([(day(0), 3), (day(5), 4)], day(40))[-1][0] == day(40)
    long = rules.curve([(day(0), 5)], day(3000))
    assert len(long) <= rules.CURVE_MAX_POINTS + 2
    assert rules.curve([], day(1)) == []
