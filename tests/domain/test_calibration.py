"""The four-way calibration: means, paired differences, groups and the sentence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ally.domain import calibration as rules
from ally.domain.calibration import Rated

MONDAY = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def rated(day: int, topic: str, partner: int, p=None, s=None, r=None) -> Rated:
    return Rated(topic, MONDAY + timedelta(days=day), partner, p, s, r)


def test_means_are_per_figure_and_differences_are_paired():
    items = [
        rated(0, "RAAS", 2, p=4, s=3, r=2),
        rated(1, "RAAS", 3, p=5),  # no self-rating, no re-check
        rated(2, "Loop", 4, s=4, r=5),
    ]
    o = rules.four_way(items).overall
    assert (o.explanations, o.partner) == (3, 3.0)
    assert (o.predicted, o.self_rating, o.recheck) == (4.5, 3.5, 3.5)
    # prediction − partner over the two with a prediction: (4−2 + 5−3) / 2
    assert (o.predicted_gap, o.predicted_pairs) == (2.0, 2)
    # self − partner: (3−2 + 4−4) / 2 — not 3.5 − 3.0 over different turns
    assert (o.self_gap, o.self_pairs) == (0.5, 2)
    assert (o.recheck_gap, o.recheck_pairs) == (0.5, 2)  # (2−2 + 5−4) / 2


def test_topics_are_folded_most_explained_first_with_the_latest_spelling():
    items = [
        rated(0, "raas ", 2, p=4),
        rated(1, "Loop", 4),
        rated(2, "RAAS", 3, p=3),
    ]
    topics = rules.four_way(items).topics
    assert [(t.label, t.explanations) for t in topics] == [("RAAS", 2), ("Loop", 1)]
    assert (topics[0].predicted, topics[0].predicted_gap) == (3.5, 1.0)
    assert topics[1].predicted is None and topics[1].predicted_gap is None


def test_periods_are_the_students_own_weeks_oldest_first():
    # Sunday 8 March 23:30 in New York (EDT) is Monday 03:30 UTC: still week 10 there.
    sunday_night = datetime(2026, 3, 9, 3, 30, tzinfo=UTC)
    items = [
        rated(0, "A", 2, p=4),
        Rated("A", sunday_night, 4, 4),
        rated(7 * 8, "A", 5, p=5),
    ]
    four = rules.four_way(items, "America/New_York")
    assert four.period == "week"
    assert [(f.label, f.explanations, f.partner) for f in four.periods] == [
        ("2026-W10", 2, 3.0),
        ("2026-W18", 1, 5.0),
    ]
    assert rules.four_way(items, "UTC").periods[0].explanations == 1


def test_the_chart_lines_are_the_table_columns_where_they_have_values():
    four = rules.four_way([rated(0, "A", 2, p=4), rated(8, "A", 3, r=3)], period="week")
    lines = dict(rules.chart_series(four.periods))
    assert lines == {
        "Prediction": [("2026-W10", 4.0)],
        "Self-rating": [],
        "Partner": [("2026-W10", 2.0), ("2026-W11", 3.0)],
        "Re-check": [("2026-W11", 3.0)],
    }


def test_nothing_to_compare():
    four = rules.four_way([])
    assert four.overall.explanations == 0 and four.periods == () == four.topics
    assert four.sentence == rules.NO_SENTENCE
    assert not four.has_own_figures


def many(partner: int, p=None, s=None, r=None, n: int = 3) -> list[Rated]:
    return [rated(day, "A", partner, p, s, r) for day in range(n)]


@pytest.mark.parametrize(
    ("items", "sentence"),
    [
        (
            many(3, p=4, s=3, r=3),
            "You expect more than you deliver before teaching; right after, you "
            "rate yourself as your partner does; after a night your re-checks "
            "match your partner.",
        ),
        (
            many(4, p=3, s=5, r=3),
            "You deliver more than you expect before teaching; right after, you "
            "rate yourself higher than your partner does; after a night your "
            "re-checks are lower than your partner's rating.",
        ),
        (
            many(3, p=3, s=2, r=4),
            "Before teaching you predict what you deliver; right after, you rate "
            "yourself lower than your partner does; after a night your re-checks "
            "are higher than your partner's rating.",
        ),
        # Only the figures given speak.
        (many(2, p=4), "You expect more than you deliver before teaching."),
        (many(4, r=4), "After a night your re-checks match your partner."),
        # Two pairs are too few to say anything.
        (many(2, p=5, n=2), rules.NO_SENTENCE),
    ],
)
def test_the_sentence_says_what_it_means(items, sentence):
    assert rules.four_way(items).sentence == sentence


@pytest.mark.parametrize(
    ("gap", "word"),
    [(0.5, "more"), (0.49, "matches"), (-0.49, "matches"), (-0.5, "less")],
)
def test_half_a_point_is_the_edge(gap, word):
    words = ("more", "less", "matches")
    assert rules._clause(gap, rules.CLEAR_AT_LEAST_PAIRS, words) == word
    assert rules._clause(gap, rules.CLEAR_AT_LEAST_PAIRS - 1, words) is None


def test_the_horizon_starts_at_midnight_utc_26_weeks_back():
    now = datetime(2026, 9, 1, 13, 45, tzinfo=UTC)
    assert rules.horizon_start(now) == datetime(2026, 3, 3, tzinfo=UTC)
    assert rules.horizon_start(now + timedelta(hours=10)) == rules.horizon_start(now)
