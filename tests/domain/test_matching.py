"""Compatibility scores, ranked suggestions with reasons, and pool matching."""

from datetime import UTC, date, datetime

import pytest

from ally.domain.availability import Window, make_window
from ally.domain.matching import (
    Person,
    Suggestion,
    format_duration,
    join_words,
    normalize_label,
    pair_weight,
    pool_pairs,
    rank_candidates,
)

NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)


def windows(*spans: str) -> tuple[Window, ...]:
    return tuple(make_window(*span.split("-")) for span in spans)


def person(
    user_id: int,
    *spans: str,
    tz: str = "UTC",
    exam: str | None = None,
    exam_date: date | None = None,
    subjects: tuple[str, ...] = (),
) -> Person:
    return Person(
        user_id, f"user {user_id}", tz, exam, exam_date, subjects, windows(*spans)
    )


SEEKER = person(
    1,
    "18:00-21:00",
    exam="USMLE Step 1",
    exam_date=date(2026, 6, 1),
    subjects=("Renal", "Cardio", "Neuro"),
)


def test_normalize_label():
    assert normalize_label("  USMLE   Step\t1 ") == "usmle step 1"
    assert normalize_label("Straße") == normalize_label("STRASSE")
    assert normalize_label(None) == ""


@pytest.mark.parametrize(
    "minutes, text",
    [
        (150, "2 h 30 min"),
        (60, "1 h"),
        (45, "45 min"),
        (0, "0 min"),
        (125, "2 h 5 min"),
    ],
)
def test_format_duration(minutes, text):
    assert format_duration(minutes) == text


def test_join_words():
    assert join_words([]) == ""
    assert join_words(["Renal"]) == "Renal"
    assert join_words(["Renal", "Cardio"]) == "Renal and Cardio"
    assert join_words(["A", "B", "C"]) == "A, B and C"


def test_ranking_order_scores_and_reasons():
    best = person(
        2,
        "18:30-22:00",  # 150 min shared
        exam=" usmle  step 1 ",
        exam_date=date(2026, 6, 13),
        subjects=("cardio", "RENAL", "Pharm"),
    )
    other_exam = person(
        3,
        "20:00-22:00",  # 60 min shared
        exam="COMLEX Level 1",
        exam_date=date(2026, 6, 21),
    )
    no_exam = person(4, "19:00-23:00")  # 120 min shared
    undated = person(5, "17:00-19:30", exam="USMLE Step 1")  # 90 min shared
    too_short = person(6, "20:30-22:00", exam="USMLE Step 1")  # 30 min shared
    far_exam = person(7, "20:00-21:00", exam="Boards", exam_date=date(2026, 9, 1))

    result = rank_candidates(
        SEEKER, [too_short, no_exam, other_exam, far_exam, undated, best], NOW
    )

    assert [s.user_id for s in result] == [2, 5, 4, 3, 7]
    assert result[0] == Suggestion(
        user_id=2,
        # 40 (150 min, capped) + 25 + 20 * (1 - 12/60) = 16 + 2 subjects * 5.
        score=91,
        overlap_minutes=150,
        reasons=(
            "2 h 30 min in common each day",
            "same exam, 12 days apart",
            "both on Renal and Cardio",
        ),
        same_exam=True,
        exam_days_apart=12,
        shared_subjects=("Renal", "Cardio"),
    )
    # 30 (90 min) + 25, no dates to compare.
    assert (result[1].score, result[1].reasons) == (
        55,
        ("1 h 30 min in common each day", "same exam"),
    )
    assert result[1].exam_days_apart is None
    assert (result[2].score, result[2].reasons) == (40, ("2 h in common each day",))
    # 20 (60 min) + 20 * (1 - 20/60) = 13.3.
    assert (result[3].score, result[3].reasons) == (
        33,
        ("1 h in common each day", "exam dates 20 days apart"),
    )
    assert not result[3].same_exam
    # 92 days apart: no points and no reason, but the distance is reported.
    assert (result[4].score, result[4].reasons) == (20, ("1 h in common each day",))
    assert result[4].exam_days_apart == 92


def test_same_exam_same_day_and_one_day():
    same_day = person(2, "18:00-21:00", exam="USMLE Step 1", exam_date=date(2026, 6, 1))
    next_day = person(
        3, "18:00-21:00", exam="usmle step 1", exam_date=date(2026, 5, 31)
    )
    result = rank_candidates(SEEKER, [next_day, same_day], NOW)
    assert [s.user_id for s in result] == [2, 3]
    assert result[0].reasons[1] == "same exam, same day"
    assert result[0].score == 40 + 25 + 20
    assert result[1].reasons[1] == "same exam, 1 day apart"


def test_subject_points_are_capped():
    seeker = person(1, "18:00-21:00", subjects=("A", "B", "C", "D"))
    many = person(2, "18:00-21:00", subjects=("d", "c", "b", "a"))
    [found] = rank_candidates(seeker, [many], NOW)
    assert found.score == 40 + 15
    assert found.reasons[-1] == "both on A, B, C and D"
    assert found.shared_subjects == ("A", "B", "C", "D")


def test_ties_break_by_overlap_then_user_id():
    a = person(9, "18:00-19:00", subjects=("Renal",))  # 20 + 5
    b = person(4, "18:00-19:15")  # 25
    c = person(3, "18:00-19:15")  # 25
    result = rank_candidates(SEEKER, [a, b, c], NOW)
    assert [(s.user_id, s.score, s.overlap_minutes) for s in result] == [
        (3, 25, 75),
        (4, 25, 75),
        (9, 25, 60),
    ]


def test_excluded_without_a_long_enough_unbroken_stretch():
    # 80 minutes a day in common, but never 60 in a row.
    broken = person(2, "18:00-18:40", "19:00-19:40")
    assert rank_candidates(SEEKER, [broken], NOW) == []
    [found] = rank_candidates(SEEKER, [broken], NOW, session_minutes=40)
    assert found.overlap_minutes == 80
    assert pair_weight(SEEKER, broken, NOW) is None
    assert pair_weight(SEEKER, broken, NOW, session_minutes=40) == round(40 * 80 / 120)


def test_no_overlap_and_the_seeker_are_excluded():
    morning = person(2, "06:00-08:00")
    assert rank_candidates(SEEKER, [morning, SEEKER], NOW) == []


def test_min_overlap_filter():
    people = [
        person(2, "18:00-19:00"),  # 60
        person(3, "18:00-19:30"),  # 90
        person(4, "18:00-20:00"),  # 120
    ]
    assert [s.user_id for s in rank_candidates(SEEKER, people, NOW)] == [4, 3, 2]
    result = rank_candidates(SEEKER, people, NOW, min_overlap=90)
    assert [s.user_id for s in result] == [4, 3]
    result = rank_candidates(SEEKER, people, NOW, min_overlap=91)
    assert [s.user_id for s in result] == [4]


def test_min_overlap_uses_the_rounded_daily_average():
    # Weekdays only: 5 * 60 minutes a week is 42.86 a day, shown as 43.
    weekdays = Person(2, "w", "UTC", None, None, (), (Window(1080, 1140, range(5)),))
    [found] = rank_candidates(SEEKER, [weekdays], NOW, min_overlap=43)
    assert found.overlap_minutes == 43
    assert rank_candidates(SEEKER, [weekdays], NOW, min_overlap=44) == []


def test_limit_returns_the_best_ones():
    people = [person(i, f"18:00-{18 + i % 3}:{(i * 7) % 60:02d}") for i in range(2, 30)]
    everyone = rank_candidates(SEEKER, people, NOW, session_minutes=30)
    top = rank_candidates(SEEKER, people, NOW, session_minutes=30, limit=5)
    assert top == everyone[:5]
    assert rank_candidates(SEEKER, people, NOW, limit=0) == []


def test_overlap_across_zones_in_a_dst_week():
    # Seeker in New York 19:00–21:00; candidate in London 00:00–02:00. In the
    # week from 2026-03-09 (US on EDT, UK on GMT) they share 1 h a night.
    seeker = person(1, "19:00-21:00", tz="America/New_York")
    london = person(2, "00:00-02:00", tz="Europe/London")
    [found] = rank_candidates(seeker, [london], datetime(2026, 3, 9, 12, tzinfo=UTC))
    assert found.overlap_minutes == 60
    assert found.reasons == ("1 h in common each day",)
    [found] = rank_candidates(seeker, [london], datetime(2026, 1, 9, 12, tzinfo=UTC))
    assert found.overlap_minutes == 120
    assert (
        rank_candidates(
            seeker, [london], datetime(2026, 3, 9, 12, tzinfo=UTC), session_minutes=61
        )
        == []
    )


def test_pair_weight():
    other = person(2, "18:00-21:00", exam="USMLE Step 1")
    assert pair_weight(SEEKER, other, NOW) == 65
    assert pair_weight(SEEKER, person(3, "06:00-07:00"), NOW) is None


def test_pool_pairs_beats_greedy():
    # A and B like each other best (same exam, 4 h in common), but C only
    # shares mornings and D only evenings, and C and D share nothing. Greedy
    # takes A-B (65) and strands C and D; the best matching is A-C + B-D (80).
    a = person(10, "08:00-10:00", "18:00-20:00", exam="Step 1")
    b = person(20, "08:00-10:00", "18:00-20:00", exam="Step 1")
    c = person(30, "08:00-10:00")
    d = person(40, "18:00-20:00")
    assert pair_weight(a, b, NOW) == 65
    assert pair_weight(a, c, NOW) == 40
    assert pair_weight(c, d, NOW) is None
    pairs = pool_pairs([d, c, b, a], NOW)
    assert len(pairs) == 2
    assert {p for pair in pairs for p in pair} == {10, 20, 30, 40}
    assert (10, 20) not in pairs
    assert pairs == sorted(pairs)
    assert all(x < y for x, y in pairs)
    # Keeping only each person's single best candidate loses the better answer:
    # everyone's favourite is A or B, so only A-B remains possible.
    assert pool_pairs([a, b, c, d], NOW, candidates_per_person=1) == [(10, 20)]
    two = pool_pairs([a, b, c, d], NOW, candidates_per_person=2)
    assert len(two) == 2 and (10, 20) not in two


def test_pool_pairs_on_a_path_where_the_heaviest_pair_is_wrong():
    # A-B 45, B-C 65, C-D 45 and nothing else: greedy takes B-C (65) and
    # strands A and D; A-B + C-D is worth 90.
    a = person(1, "06:00-07:00", exam="X")
    b = person(2, "06:00-07:00", "18:00-20:00", exam="X")
    c = person(3, "18:00-20:00", "12:00-13:00", exam="X")
    d = person(4, "12:00-13:00", exam="X")
    assert [pair_weight(*pair, NOW) for pair in [(a, b), (b, c), (c, d)]] == [
        45,
        65,
        45,
    ]
    assert pair_weight(a, d, NOW) is None
    assert pool_pairs([a, b, c, d], NOW) == [(1, 2), (3, 4)]


def test_pool_pairs_in_a_triangle_leaves_one_out():
    # A-B 80 (2 h, same exam, three subjects), A-C and B-C 45 (1 h, same exam).
    a = person(1, "18:00-20:00", exam="X", subjects=("s1", "s2", "s3"))
    b = person(2, "18:00-20:00", exam="X", subjects=("s1", "s2", "s3"))
    c = person(3, "19:00-21:00", exam="X")
    assert pair_weight(a, b, NOW) == 80
    assert pair_weight(b, c, NOW) == 45
    assert pool_pairs([c, b, a], NOW) == [(1, 2)]


def test_pool_pairs_leaves_out_the_ineligible():
    a = person(1, "18:00-20:00")
    b = person(2, "06:00-08:00")
    c = person(3, "18:30-19:30")
    assert pool_pairs([a, b, c], NOW) == [(1, 3)]
    assert pool_pairs([], NOW) == []
    assert pool_pairs([a, b], NOW) == []
