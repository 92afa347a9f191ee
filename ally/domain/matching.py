"""Compatibility scoring, ranked partner suggestions and pool matching.

Score (an int from 0 to 100) is the rounded sum of:

- overlap, 0-40: daily shared minutes / 120, capped at 1, times 40;
- same exam, 25: both exams equal after normalize_label;
- exam dates close, 0-20: only when both have a date; 20 on the same day,
  falling linearly to 0 at 60 days apart (whether or not the exams match);
- shared subjects, 5 per subject in common, at most 15.

A pair is eligible only when the two share at least one unbroken stretch of a
session's length within the seeker's next 7 local days.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import networkx as nx

from .availability import (
    Window,
    availability_bitmap,
    daily_overlap_minutes,
    horizon,
    horizon_frame,
    run_starts,
)

HORIZON_DAYS = 7
OVERLAP_POINTS = 40
FULL_OVERLAP = 120
SAME_EXAM_POINTS = 25
EXAM_DATE_POINTS = 20
EXAM_DATE_WINDOW_DAYS = 60
SUBJECT_POINTS = 5
MAX_SUBJECT_POINTS = 15


@dataclass(frozen=True)
class Person:
    """What matching needs to know about one user."""

    user_id: int
    display_name: str
    timezone: str
    exam: str | None
    exam_date: date | None
    subjects: tuple[str, ...]
    windows: tuple[Window, ...]


@dataclass(frozen=True)
class Suggestion:
    """One ranked candidate for a seeker, with the reasons shown to the seeker."""

    user_id: int
    score: int
    overlap_minutes: int
    reasons: tuple[str, ...]
    same_exam: bool
    exam_days_apart: int | None
    shared_subjects: tuple[str, ...]


@lru_cache(maxsize=65536)
def normalize_label(text: str | None) -> str:
    """Comparable form of an exam or subject name (casefolded, single spaces)."""
    if not text:
        return ""
    return " ".join(text.casefold().split())


@lru_cache(maxsize=65536)
def _masks(
    windows: tuple[Window, ...], tz: str, anchor_day: date, days: int, run: int
) -> tuple[int, int]:
    # A minute is the start of a shared run of `run` minutes exactly when it
    # starts such a run in both bitmaps, so each side's run bitmap is computed
    # once per day and a candidate's eligibility is then a single AND.
    bits = availability_bitmap(windows, tz, anchor_day, days)
    return bits, run_starts(bits, run)


@lru_cache(maxsize=65536)
def _subject_keys(subjects: tuple[str, ...]) -> frozenset[str]:
    return frozenset(k for k in map(normalize_label, subjects) if k)


def format_duration(minutes: int) -> str:
    """Human duration: 150 -> "2 h 30 min", 60 -> "1 h", 45 -> "45 min"."""
    hours, rest = divmod(int(minutes), 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    if hours:
        return f"{hours} h"
    return f"{rest} min"


def join_words(items: Iterable[str]) -> str:
    """Join as prose: "A", "A and B", "A, B and C"."""
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _date_points(days_apart: int | None) -> float:
    if days_apart is None:
        return 0.0
    return max(0.0, EXAM_DATE_POINTS * (1 - days_apart / EXAM_DATE_WINDOW_DAYS))


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _days_apart(a: Person, b: Person) -> int | None:
    if a.exam_date is None or b.exam_date is None:
        return None
    return abs((a.exam_date - b.exam_date).days)


def _same_exam(exam_key: str, other: Person) -> bool:
    return bool(exam_key) and exam_key == normalize_label(other.exam)


def _shared_subjects(seeker: Person, other: Person) -> tuple[str, ...]:
    # The seeker's spelling and order: the reason is shown to the seeker.
    theirs = _subject_keys(other.subjects)
    seen: set[str] = set()
    shared = []
    for subject in seeker.subjects:
        key = normalize_label(subject)
        if key and key in theirs and key not in seen:
            seen.add(key)
            shared.append(subject)
    return tuple(shared)


def _suggestion(seeker: Person, other: Person, daily: int, score: int) -> Suggestion:
    same_exam = _same_exam(normalize_label(seeker.exam), other)
    apart = _days_apart(seeker, other)
    shared = _shared_subjects(seeker, other)
    reasons = []
    if daily > 0:
        reasons.append(f"{format_duration(daily)} in common each day")
    if same_exam:
        if apart is None:
            reasons.append("same exam")
        elif apart == 0:
            reasons.append("same exam, same day")
        else:
            reasons.append(f"same exam, {_days(apart)} apart")
    elif apart is not None and _date_points(apart) > 0:
        if apart == 0:
            reasons.append("exam dates on the same day")
        else:
            reasons.append(f"exam dates {_days(apart)} apart")
    if shared:
        reasons.append(f"both on {join_words(shared)}")
    return Suggestion(
        user_id=other.user_id,
        score=score,
        overlap_minutes=daily,
        reasons=tuple(reasons),
        same_exam=same_exam,
        exam_days_apart=apart,
        shared_subjects=shared,
    )


def rank_candidates(
    seeker: Person,
    candidates: Iterable[Person],
    now: datetime,
    session_minutes: int = 60,
    min_overlap: int = 0,
    limit: int | None = None,
) -> list[Suggestion]:
    """Eligible candidates for seeker, best first (score, overlap, then user id)."""
    start, end = horizon(now, seeker.timezone, HORIZON_DAYS)
    anchor_day, days, offset, length = horizon_frame(start, end)
    # Keep the seeker's bitmap in the shared anchor's coordinates: ANDing it
    # with a candidate's cached bitmap then needs no per-candidate shift or mask.
    mine = availability_bitmap(seeker.windows, seeker.timezone, anchor_day, days)
    mine &= ((1 << length) - 1) << offset
    run = max(session_minutes, 1)
    my_runs = run_starts(mine, run)
    # Below this total no run of session_minutes can exist, and below the
    # minimum daily overlap the candidate is out: both are cheaper than a run.
    floor = max(session_minutes, min_overlap * HORIZON_DAYS - HORIZON_DAYS // 2)
    exam_key = normalize_label(seeker.exam)
    seeker_date = seeker.exam_date
    seeker_subjects = _subject_keys(seeker.subjects)
    ranked: list[tuple[int, int, int, int]] = []
    people: list[Person] = []
    seeker_id = seeker.user_id
    # The loop body is the hot path (10,000 candidates per page view): locals
    # and inlined arithmetic instead of helper calls.
    for person in candidates:
        theirs, their_runs = _masks(
            person.windows, person.timezone, anchor_day, days, run
        )
        both = mine & theirs
        total = both.bit_count()
        if total < floor or not total or person.user_id == seeker_id:
            continue
        daily = daily_overlap_minutes(total, HORIZON_DAYS)
        if daily < min_overlap or not my_runs & their_runs:
            continue
        points = OVERLAP_POINTS * min(daily, FULL_OVERLAP) / FULL_OVERLAP
        if exam_key and exam_key == normalize_label(person.exam):
            points += SAME_EXAM_POINTS
        if seeker_date is not None and person.exam_date is not None:
            apart = abs((seeker_date - person.exam_date).days)
            if apart < EXAM_DATE_WINDOW_DAYS:
                points += EXAM_DATE_POINTS * (1 - apart / EXAM_DATE_WINDOW_DAYS)
        if seeker_subjects:
            shared = len(seeker_subjects & _subject_keys(person.subjects))
            points += min(SUBJECT_POINTS * shared, MAX_SUBJECT_POINTS)
        score = round(points)
        # Plain tuples sort fast; the Person is looked up by index afterwards.
        ranked.append((-score, -daily, person.user_id, len(people)))
        people.append(person)
    if limit is None:
        winners = sorted(ranked)
    else:
        winners = heapq.nsmallest(max(limit, 0), ranked)
    return [
        _suggestion(seeker, people[index], -neg_daily, -neg_score)
        for neg_score, neg_daily, _, index in winners
    ]


def pair_weight(
    a: Person, b: Person, now: datetime, session_minutes: int = 60
) -> int | None:
    """Score of the pair seen from a's horizon, or None when they are ineligible."""
    found = rank_candidates(a, [b], now, session_minutes)
    return found[0].score if found else None


def pool_pairs(
    people: Sequence[Person],
    now: datetime,
    session_minutes: int = 60,
    candidates_per_person: int | None = None,
    excluded: frozenset[tuple[int, int]] = frozenset(),
) -> list[tuple[int, int]]:
    """Pairs (smaller id, larger id) of a maximum-weight matching of eligible pairs.

    Pairs in `excluded` (smaller id, larger id), e.g. blocked ones, are never made.
    """
    ordered = sorted(people, key=lambda p: p.user_id)
    graph = nx.Graph()
    for i, person in enumerate(ordered):
        if candidates_per_person is None:
            # Each pair is weighed once, from the horizon of its smaller id, so
            # the result does not depend on the order people are given in.
            found = rank_candidates(person, ordered[i + 1 :], now, session_minutes)
        else:
            # networkx's blossom algorithm is pure Python and slow on dense
            # graphs (300 people: ~4 s); keeping each person's best few
            # candidates trades a little optimality for a much smaller graph.
            found = rank_candidates(
                person, ordered, now, session_minutes, limit=candidates_per_person
            )
        for suggestion in found:
            key = tuple(sorted((person.user_id, suggestion.user_id)))
            if key in excluded:
                continue
            if not graph.has_edge(person.user_id, suggestion.user_id):
                graph.add_edge(
                    person.user_id, suggestion.user_id, weight=suggestion.score
                )
    matching = nx.max_weight_matching(graph, maxcardinality=False)
    return sorted((min(u, v), max(u, v)) for u, v in matching)
