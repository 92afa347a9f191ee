"""Review figures: per-topic stats, trends, gaps to teach again, calibration and
the series over time, against hand-made histories with known answers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ally.domain.review import (
    Calibration,
    Explanation,
    TopicStats,
    calibration,
    calibration_by_period,
    choose_period,
    gap_reasons,
    gaps,
    series_by_period,
    topic_key,
    topic_stats,
    trend,
)

START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # a Monday


def at(day: float, hour: int = 15) -> datetime:
    return START + timedelta(days=day, hours=hour - 15)


def ex(
    day: float,
    topic: str,
    simplicity: int | None,
    self_rating: int | None = None,
    jargon: int = 0,
    hour: int = 15,
) -> Explanation:
    return Explanation(
        topic=topic,
        taught_at=at(day, hour),
        simplicity=simplicity,
        self_simplicity=self_rating,
        jargon_flags=jargon,
    )


# A student's three weeks, the same history tests/test_reviews.py writes to the
# database. Renal clearance improves, RAAS gets worse (its spelling varies),
# two topics were last rated 2, Glycolysis was never rated but drew jargon.
HISTORY = [
    ex(0, "Renal clearance", 2, self_rating=4),
    ex(2, "Renal clearance", 2),
    ex(4, "Renal clearance", 2),
    ex(6, "Renal clearance", 4),
    ex(8, "Renal clearance", 4),
    ex(10, "Renal clearance", 4, self_rating=4),
    ex(1, "raas", 4),
    ex(3, " RAAS", 4),
    ex(5, "Raas ", 4),
    ex(7, "RAAS", 2, jargon=1),
    ex(9, "R A A S", 2),  # a different key: spacing inside is kept
    ex(9, "RAAS", 2, hour=17),
    ex(11, "RAAS", 1, self_rating=3, jargon=3),
    ex(3, "Cardiac action potential", 5, hour=17),
    ex(4, "Cardiac action potential", 2, hour=17),
    ex(12, "Loop diuretics", 3),
    ex(13, "Loop  diuretics", 2, self_rating=4),
    ex(14, "Glycolysis", None, self_rating=4, jargon=3),
    ex(15, "", 5),
]


def by_key(stats: list[TopicStats]) -> dict[str, TopicStats]:
    return {s.key: s for s in stats}


# --- topic keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("RAAS", "raas"),
        ("raas ", "raas"),
        ("  Raas", "raas"),
        ("Loop   diuretics", "loop diuretics"),
        ("Loop\tdiuretics\n", "loop diuretics"),
        ("Frank–Starling Mechanism", "frank–starling mechanism"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # casefold, not just lower
        ("", ""),
        ("   ", ""),
        (None, ""),
    ],
)
def test_topic_keys_fold_case_and_spacing(title, key):
    assert topic_key(title) == key


def test_an_explanation_is_grouped_by_its_folded_topic():
    assert ex(0, " Loop  DIURETICS ", 3).key == "loop diuretics"


# --- per-topic figures ----------------------------------------------------------------


def test_topic_stats_of_a_hand_made_history():
    stats = topic_stats(HISTORY)
    # Most recently taught first; the untitled turn is left out.
    assert [s.key for s in stats] == [
        "glycolysis",
        "loop diuretics",
        "raas",
        "renal clearance",
        "r a a s",
        "cardiac action potential",
    ]
    topics = by_key(stats)

    renal = topics["renal clearance"]
    assert (renal.topic, renal.explanations, renal.rated) == ("Renal clearance", 6, 6)
    assert renal.mean == 3.0  # (2+2+2+4+4+4)/6
    assert renal.last == 4
    assert renal.trend == "improving"  # 4.0 against 2.0
    assert renal.last_taught == at(10)
    assert renal.jargon_per_explanation == 0.0
    assert renal.ratings == tuple((at(d), v) for d, v in [(0, 2), (2, 2), (4, 2)]) + (
        (at(6), 4),
        (at(8), 4),
        (at(10), 4),
    )

    raas = topics["raas"]
    # Five spellings, one topic, shown as last written.
    assert (raas.topic, raas.explanations, raas.rated) == ("RAAS", 6, 6)
    assert raas.mean == 2.83  # 17/6
    assert raas.last == 1
    assert raas.trend == "worse"  # (2+2+1)/3 against 4
    assert raas.last_taught == at(11)
    assert raas.jargon_per_explanation == 0.67  # 4 flags over 6 explanations
    assert [v for _, v in raas.ratings] == [4, 4, 4, 2, 2, 1]

    spaced = topics["r a a s"]
    assert (spaced.topic, spaced.explanations, spaced.mean, spaced.last) == (
        "R A A S",
        1,
        2.0,
        2,
    )

    cardiac = topics["cardiac action potential"]
    assert (cardiac.mean, cardiac.last, cardiac.trend) == (3.5, 2, "new")
    assert cardiac.last_taught == at(4, hour=17)

    loop = topics["loop diuretics"]
    assert (loop.topic, loop.explanations, loop.mean, loop.last) == (
        "Loop  diuretics",
        2,
        2.5,
        2,
    )

    glycolysis = topics["glycolysis"]
    # Never rated: no mean, no last rating, but it counts as an explanation.
    assert (glycolysis.explanations, glycolysis.rated) == (1, 0)
    assert glycolysis.mean is None and glycolysis.last is None
    assert glycolysis.trend == "new"
    assert glycolysis.jargon_per_explanation == 3.0
    assert glycolysis.ratings == ()


def test_topic_stats_do_not_depend_on_the_order_given():
    shuffled = list(HISTORY)
    random.Random(7).shuffle(shuffled)
    assert topic_stats(shuffled) == topic_stats(HISTORY)


def test_unrated_turns_count_as_explanations_but_not_in_the_mean():
    stats = topic_stats(
        [ex(0, "ECG", 4), ex(1, "ECG", None, jargon=2), ex(2, "ECG", 2)]
    )
    (ecg,) = stats
    assert (ecg.explanations, ecg.rated, ecg.mean, ecg.last) == (3, 2, 3.0, 2)
    assert ecg.jargon_per_explanation == 0.67  # 2 flags over 3 explanations


def test_the_last_rating_is_the_latest_rated_turn_not_the_latest_turn():
    (ecg,) = topic_stats([ex(0, "ECG", 1), ex(1, "ECG", 5), ex(2, "ECG", None)])
    assert ecg.last == 5
    assert ecg.last_taught == at(2)


def test_no_history_no_topics():
    assert topic_stats([]) == []
    assert topic_stats([ex(0, "", 3), ex(1, "   ", 2)]) == []


# --- trend ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ([], "new"),
        ([1], "new"),
        ([1, 5, 5], "new"),  # fewer than four ratings
        ([1, 2, 2, 2], "improving"),  # one before: 2 against 1
        ([5, 4, 4, 4], "worse"),
        ([3, 3, 3, 3], "flat"),
        ([2, 2, 2, 4, 4, 4], "improving"),
        ([4, 4, 4, 2, 2, 1], "worse"),
        ([3, 3, 3, 3, 3, 4], "flat"),  # +1/3: under half a point
        ([3, 3, 3, 3, 4, 4], "improving"),  # +2/3
        ([3, 3, 3, 3, 3, 2], "flat"),  # -1/3
        ([3, 3, 3, 3, 2, 2], "worse"),  # -2/3
        ([1, 1, 1, 5, 5, 5, 3, 3, 3], "worse"),  # only the last six count
        ([5, 5, 5, 1, 1, 1, 3, 3, 3], "improving"),
        ([1, 1, 1, 1, 1, 3, 3, 3, 3], "improving"),  # 3 against (1+1+3)/3
    ],
)
def test_trend_compares_the_last_three_with_the_three_before(ratings, expected):
    assert trend(ratings) == expected


def test_trend_threshold_is_half_a_point_inclusive():
    # Whole-number ratings move three-rating means in thirds; a mean that moves
    # by exactly 0.5 needs a longer run, so check the rule on floats too.
    assert trend([2.0, 2.0, 2.0, 2.5, 2.5, 2.5]) == "improving"
    assert trend([2.5, 2.5, 2.5, 2.0, 2.0, 2.0]) == "worse"
    assert trend([2.0, 2.0, 2.0, 2.4, 2.4, 2.4]) == "flat"


# --- gaps -----------------------------------------------------------------------------


def stats_of(
    key: str,
    *,
    last: int | None,
    mean: float | None,
    day: float,
    jargon: float = 0.0,
) -> TopicStats:
    return TopicStats(
        key=key,
        topic=key.title(),
        explanations=2,
        rated=2 if last is not None else 0,
        mean=mean,
        last=last,
        trend="new",
        last_taught=at(day),
        jargon_per_explanation=jargon,
    )


@pytest.mark.parametrize(
    ("last", "mean", "jargon", "reasons"),
    [
        (3, 3.0, 0.0, ()),
        (2, 3.5, 0.0, ("last rated 2/5",)),
        (1, 3.0, 0.0, ("last rated 1/5",)),
        (3, 2.99, 0.0, ("average 3.0/5",)),  # below 3, shown to one decimal
        (4, 2.5, 0.0, ("average 2.5/5",)),
        (3, 3.0, 2.99, ()),
        (3, 3.0, 3.0, ("3.0 jargon flags per explanation",)),
        (
            1,
            1.5,
            4.25,
            ("last rated 1/5", "average 1.5/5", "4.2 jargon flags per explanation"),
        ),
        (None, None, 0.0, ()),  # never rated, no jargon: nothing to say
        (None, None, 3.5, ("3.5 jargon flags per explanation",)),
    ],
)
def test_gap_reasons(last, mean, jargon, reasons):
    assert gap_reasons(stats_of("ecg", last=last, mean=mean, day=0, jargon=jargon)) == (
        reasons
    )


def test_gaps_of_the_hand_made_history_most_urgent_first():
    found = gaps(topic_stats(HISTORY))
    assert [(g.stats.key, g.reasons) for g in found] == [
        ("raas", ("last rated 1/5", "average 2.8/5")),
        # Both last rated 2: the one taught longest ago first.
        ("cardiac action potential", ("last rated 2/5",)),
        ("r a a s", ("last rated 2/5", "average 2.0/5")),
        ("loop diuretics", ("last rated 2/5", "average 2.5/5")),
        # Never rated: after every rated gap.
        ("glycolysis", ("3.0 jargon flags per explanation",)),
    ]
    # Renal clearance (mean 3.0, last 4) is not a gap.


def test_gap_order_lowest_last_rating_then_longest_ago():
    stats = [
        stats_of("a", last=2, mean=3.5, day=9),
        stats_of("b", last=1, mean=3.0, day=10),
        stats_of("c", last=2, mean=3.5, day=1),
        stats_of("d", last=4, mean=2.5, day=0),  # a gap by its mean only
        stats_of("e", last=None, mean=None, day=-5, jargon=3.0),
        stats_of("f", last=1, mean=1.0, day=2),
        stats_of("g", last=5, mean=4.0, day=-9),  # no gap
    ]
    random.Random(3).shuffle(stats)
    assert [g.stats.key for g in gaps(stats)] == ["f", "b", "c", "a", "d", "e"]
    assert gaps([]) == []


# --- calibration ----------------------------------------------------------------------


def test_calibration_of_the_hand_made_history():
    result = calibration(HISTORY)
    # Self minus partner where both exist: +2, 0, +2, +2 (Glycolysis unrated).
    assert result.points == (
        (at(0), 4, 2),
        (at(10), 4, 4),
        (at(11), 3, 1),
        (at(13), 4, 2),
    )
    assert result.mean_difference == 1.5
    assert (result.over, result.under, result.same) == (3, 0, 1)
    assert result.verdict == (
        "You tend to rate your explanations higher than your partner."
    )


def test_calibration_points_are_oldest_first_whatever_the_input_order():
    items = [ex(3, "x", 2, 1), ex(1, "x", 4, 5), ex(2, "x", 3, 3)]
    result = calibration(items)
    assert result.points == ((at(1), 5, 4), (at(2), 3, 3), (at(3), 1, 2))
    assert result.mean_difference == 0.0  # +1, 0, -1
    assert (result.over, result.under, result.same) == (1, 1, 1)
    assert result.verdict == "Your own ratings match your partner's closely."


@pytest.mark.parametrize(
    ("pairs", "difference", "verdict"),
    [
        ([(5, 4), (4, 4)], 0.5, "higher"),
        ([(3, 4), (4, 4)], -0.5, "lower"),
        ([(1, 3), (2, 4), (3, 3)], -1.33, "lower"),
        ([(4, 4), (4, 4), (5, 4)], 0.33, "closely"),
        ([(3, 4), (4, 4), (4, 4)], -0.33, "closely"),
    ],
)
def test_calibration_verdict_at_half_a_point(pairs, difference, verdict):
    result = calibration([ex(i, "x", p, s) for i, (s, p) in enumerate(pairs)])
    assert result.mean_difference == difference
    assert verdict in result.verdict


def test_calibration_without_self_ratings():
    result = calibration([ex(0, "x", 3), ex(1, "x", None, self_rating=4)])
    assert result == Calibration(
        points=(), mean_difference=None, over=0, under=0, same=0
    )
    assert result.verdict == "Rate yourself after each turn to see how well you judge."


# --- the series over time -------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "period"),
    [
        (0, "day"),
        (45, "day"),
        (46, "week"),
        (210, "week"),
        (211, "month"),
        (5 * 365, "month"),
    ],
)
def test_the_period_is_chosen_from_the_span(days, period):
    assert choose_period(at(0), at(days)) == period
    # Hours short of a day do not count as a day.
    assert choose_period(at(0), at(days) + timedelta(hours=23)) == period


def test_a_day_series_of_the_hand_made_history():
    points = [(e.taught_at, e.simplicity) for e in HISTORY if e.simplicity]
    assert choose_period(min(p[0] for p in points), max(p[0] for p in points)) == "day"
    assert series_by_period(points) == [
        ("2026-01-05", 2.0, 1),
        ("2026-01-06", 4.0, 1),
        ("2026-01-07", 2.0, 1),
        ("2026-01-08", 4.5, 2),  # RAAS 4 and Cardiac 5
        ("2026-01-09", 2.0, 2),
        ("2026-01-10", 4.0, 1),
        ("2026-01-11", 4.0, 1),
        ("2026-01-12", 2.0, 1),
        ("2026-01-13", 4.0, 1),
        ("2026-01-14", 2.0, 2),
        ("2026-01-15", 4.0, 1),
        ("2026-01-16", 1.0, 1),
        ("2026-01-17", 3.0, 1),
        ("2026-01-18", 2.0, 1),
        ("2026-01-20", 5.0, 1),  # 2026-01-19: Glycolysis, unrated
    ]


def test_series_by_week_uses_iso_weeks_and_their_years():
    points = [
        (datetime(2025, 12, 28, 12, tzinfo=UTC), 1),  # Sunday: 2025-W52
        (datetime(2025, 12, 29, 12, tzinfo=UTC), 2),  # Monday: 2026-W01
        (datetime(2026, 1, 4, 12, tzinfo=UTC), 5),  # Sunday: still 2026-W01
        (datetime(2026, 3, 2, 12, tzinfo=UTC), 4),  # 2026-W10
        (datetime(2026, 3, 3, 12, tzinfo=UTC), 3),
        (datetime(2026, 3, 4, 12, tzinfo=UTC), 3),
    ]
    assert series_by_period(points, "week") == [
        ("2025-W52", 1.0, 1),
        ("2026-W01", 3.5, 2),
        ("2026-W10", 3.33, 3),
    ]
    # A 66-day span is charted by week when no period is given.
    assert series_by_period(points) == series_by_period(points, "week")


def test_series_by_month_oldest_first_whatever_the_input_order():
    points = [
        (datetime(2026, 3, 31, tzinfo=UTC), 2),
        (datetime(2025, 1, 1, tzinfo=UTC), 5),
        (datetime(2026, 3, 1, tzinfo=UTC), 3),
        (datetime(2025, 12, 31, 23, 59, tzinfo=UTC), 4),
        (datetime(2025, 1, 31, tzinfo=UTC), 4),
    ]
    assert series_by_period(points) == [
        ("2025-01", 4.5, 2),
        ("2025-12", 4.0, 1),
        ("2026-03", 2.5, 2),
    ]


def test_a_given_period_wins_over_the_span():
    points = [(at(0), 2), (at(1), 4), (at(8), 5)]
    assert series_by_period(points, "month") == [("2026-01", 3.67, 3)]
    assert series_by_period(points, "week") == [
        ("2026-W02", 3.0, 2),
        ("2026-W03", 5.0, 1),
    ]
    assert series_by_period(points) == [
        ("2026-01-05", 2.0, 1),
        ("2026-01-06", 4.0, 1),
        ("2026-01-13", 5.0, 1),
    ]


def test_an_empty_series():
    assert series_by_period([]) == []
    assert series_by_period([], "week") == []


def test_series_in_the_students_own_zone():
    # 23:30 UTC on 31 Jan is 12:30 on 1 Feb in Auckland, 18:30 on 31 Jan in
    # New York; 02:00 UTC on 1 Feb is 21:00 on 31 Jan in New York.
    points = [
        (datetime(2026, 1, 31, 23, 30, tzinfo=UTC), 2),
        (datetime(2026, 2, 1, 2, 0, tzinfo=UTC), 4),
    ]
    assert series_by_period(points, "day") == [
        ("2026-01-31", 2.0, 1),
        ("2026-02-01", 4.0, 1),
    ]
    assert series_by_period(points, "day", "Pacific/Auckland") == [
        ("2026-02-01", 3.0, 2)
    ]
    assert series_by_period(points, "day", "America/New_York") == [
        ("2026-01-31", 3.0, 2)
    ]
    assert series_by_period(points, "month", "America/New_York") == [
        ("2026-01", 3.0, 2)
    ]
    assert series_by_period(points, "month", "Pacific/Auckland") == [
        ("2026-02", 3.0, 2)
    ]
    # Sunday evening in New York is Monday in UTC: the ISO week is New York's.
    sunday = [(datetime(2026, 3, 9, 1, 0, tzinfo=UTC), 5)]
    assert series_by_period(sunday, "week") == [("2026-W11", 5.0, 1)]
    assert series_by_period(sunday, "week", "America/New_York") == [
        ("2026-W10", 5.0, 1)
    ]
    assert series_by_period([], "day", "Pacific/Auckland") == []


def test_calibration_by_period_gives_both_means_per_local_day():
    points = [
        # 31 Jan in New York (02:00 UTC on 1 Feb is 21:00 on 31 Jan).
        (datetime(2026, 1, 31, 23, 30, tzinfo=UTC), 4, 2),
        (datetime(2026, 2, 1, 2, 0, tzinfo=UTC), 5, 3),
        (datetime(2026, 2, 1, 20, 0, tzinfo=UTC), 3, 3),
    ]
    assert calibration_by_period(points, "day", "America/New_York") == [
        ("2026-01-31", 4.5, 2.5, 2),
        ("2026-02-01", 3.0, 3.0, 1),
    ]
    assert calibration_by_period(points, "day") == [
        ("2026-01-31", 4.0, 2.0, 1),
        ("2026-02-01", 4.0, 3.0, 2),
    ]
    # The two halves are the self and partner series the chart draws.
    by_period = calibration_by_period(points, "month", "Pacific/Auckland")
    assert [(m, s, n) for m, s, _, n in by_period] == series_by_period(
        [(w, s) for w, s, _ in points], "month", "Pacific/Auckland"
    )
    assert calibration_by_period([], "day") == []
