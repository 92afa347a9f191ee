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
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

import networkx as nx

from .availability import (
    DAY,
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
    ranked, people = _score_candidates(
        seeker, candidates, now, session_minutes, min_overlap
    )
    if limit is None:
        winners = sorted(ranked)
    else:
        winners = heapq.nsmallest(max(limit, 0), ranked)
    return [
        _suggestion(seeker, people[index], -neg_daily, -neg_score)
        for neg_score, neg_daily, _, index in winners
    ]


def _score_candidates(
    seeker: Person,
    candidates: Iterable[Person],
    now: datetime,
    session_minutes: int,
    min_overlap: int,
) -> tuple[list[tuple[int, int, int, int]], list[Person]]:
    """(-score, -daily overlap, user id, index into people) of each eligible one."""
    start, end = horizon(now, seeker.timezone, HORIZON_DAYS)
    anchor_day, days, offset, length = horizon_frame(start, end)
    # Keep the seeker's bitmap in the shared anchor's coordinates: ANDing it
    # with a candidate's cached bitmap then needs no per-candidate shift or mask.
    run = max(session_minutes, 1)
    # The cached bitmap: a pool weighs every person once as a seeker too.
    mine, _ = _masks(seeker.windows, seeker.timezone, anchor_day, days, run)
    mine &= ((1 << length) - 1) << offset
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
    return ranked, people


def pair_weight(
    a: Person, b: Person, now: datetime, session_minutes: int = 60
) -> int | None:
    """Score of the pair seen from a's horizon, or None when they are ineligible."""
    found = rank_candidates(a, [b], now, session_minutes)
    return found[0].score if found else None


# Pools up to this size are matched exactly on the full graph of eligible pairs;
# above it, networkx's pure-Python blossom algorithm takes minutes (1,000 people:
# ~70 s), so each person keeps only their likeliest partners (see pool_pairs).
EXACT_POOL_SIZE = 200
POOL_CANDIDATES = 16
# The candidate pre-selection compares availability in slots of 32 minutes:
# four bytes of a bitmap, counted with one vectorised popcount.
_SLOT_BITS = 32
_DATE_BUCKET_DAYS = 10
_SUBJECT_BUCKETS = 64
# Rows of the approximate score matrix computed at once (20 MB at 10,000).
_BLOCK_ROWS = 512
# Columns per group when finding a row's best few (see _top_columns).
_GROUP = 16
# Pairs weighed exactly at once (each gathers two bitmaps of ~1.4 kB).
_WEIGH_CHUNK = 8192
# Leftover components up to this size are matched exactly (well under a second).
_EXACT_PART_SIZE = 150
# Regions re-solved exactly after the local improvement, and their size.
_REGIONS = 20
_REGION_SIZE = 60
_REGION_BUDGET = 20_000


def pool_pairs(
    people: Sequence[Person],
    now: datetime,
    session_minutes: int = 60,
    candidates_per_person: int | None = None,
    excluded: frozenset[tuple[int, int]] = frozenset(),
    exact_up_to: int = EXACT_POOL_SIZE,
) -> list[tuple[int, int]]:
    """Pairs (smaller id, larger id) of a maximum-weight matching of eligible pairs.

    Pairs in `excluded` (smaller id, larger id), e.g. blocked ones, are never made.
    A pair's weight is its score from the horizon of its smaller id. Pools of at
    most `exact_up_to` people are matched exactly; larger ones keep each person's
    likeliest `POOL_CANDIDATES` partners and match those near-optimally.
    `candidates_per_person` keeps each person's best few by exact score instead.
    """
    ordered = sorted(people, key=lambda p: p.user_id)
    if candidates_per_person is not None:
        # Exact top-k per person: quadratic in rank_candidates, for small pools.
        edges: dict[tuple[int, int], int] = {}
        for person in ordered:
            found = rank_candidates(
                person, ordered, now, session_minutes, limit=candidates_per_person
            )
            for suggestion in found:
                key = (
                    min(person.user_id, suggestion.user_id),
                    max(person.user_id, suggestion.user_id),
                )
                if key not in excluded and key not in edges:
                    edges[key] = suggestion.score
        return sorted(_exact_matching(edges))
    if len(ordered) < 2:
        return []
    import numpy as np

    # Everything below works on indices into `ordered` (ids ascending), so the
    # result does not depend on the order people are given in.
    pool = _PoolArrays(ordered, now, session_minutes)
    n = len(ordered)
    if n <= exact_up_to:
        first, second = np.triu_indices(n, 1)
    else:
        # Smaller pools can afford more candidates each, and gain from them.
        k = max(POOL_CANDIDATES, min(2 * POOL_CANDIDATES, 48_000 // n))
        first, second = _likely_pairs(pool, k)
    first, second, weight = _pair_weights(pool, first, second)
    ids = np.array([p.user_id for p in ordered], dtype=np.int64)
    if excluded:
        barred = np.array(sorted(excluded), dtype=np.int64).reshape(-1, 2)
        keep = ~_pair_in(ids[first], ids[second], barred[:, 0], barred[:, 1])
        first, second, weight = first[keep], second[keep], weight[keep]
    if n <= exact_up_to:
        edges = {
            (int(a), int(b)): int(w)
            for a, b, w in zip(ids[first], ids[second], weight, strict=True)
        }
        return sorted(_exact_matching(edges))
    matching = _large_matching(n, first, second, weight)
    return sorted((int(ids[a]), int(ids[b])) for a, b in matching)


def _pair_in(a: Any, b: Any, in_a: Any, in_b: Any) -> Any:
    """Whether each pair (a[i], b[i]) is one of the pairs (in_a[j], in_b[j])."""
    import numpy as np

    # Ids are below 2**31 in practice; a 64-bit key of both is exact then.
    return np.isin(a * (1 << 32) + b, in_a * (1 << 32) + in_b)


def _exact_matching(edges: dict[tuple[int, int], int]) -> set[tuple[int, int]]:
    graph = nx.Graph()
    for (a, b), weight in edges.items():
        graph.add_edge(a, b, weight=weight)
    return {(min(u, v), max(u, v)) for u, v in nx.max_weight_matching(graph)}


def _int_rows(values: Sequence[int], words: int) -> Any:
    """Non-negative Python ints as rows of `words` little-endian uint64 words."""
    import numpy as np

    raw = b"".join(v.to_bytes(8 * words, "little") for v in values)
    return np.frombuffer(raw, dtype="<u8").reshape(len(values), words)


class _PoolArrays:
    """Everything the pool's scores need, as numpy arrays indexed like `ordered`.

    Bitmaps share one frame: bit i is minute `anchor + i` (UTC midnight before
    the earliest horizon start), for whole days covering every horizon. Within
    a seeker's horizon a person's bits are those of the cached per-seeker
    bitmaps of `_score_candidates`, so scores computed here are the same.
    """

    def __init__(self, ordered: Sequence[Person], now: datetime, session: int):
        import numpy as np

        n = len(ordered)
        frames = {p.timezone: horizon(now, p.timezone, HORIZON_DAYS) for p in ordered}
        first = min(start for start, _ in frames.values())
        last = max(end for _, end in frames.values())
        anchor_day = first.astimezone(UTC).date()
        anchor = datetime.combine(anchor_day, time(), UTC)
        days = -(-int((last - anchor).total_seconds() // 60) // DAY)
        # An even number of days is a whole number of 64-bit words (45 per 2 days).
        self.days = days + days % 2
        words = self.days * DAY // 64
        run = max(session, 1)
        # A pair needs this many shared minutes (see _score_candidates, whose
        # floor is this with no minimum daily overlap).
        self.floor = session
        inside: dict[str, tuple[int, int]] = {}
        for tz, (start, end) in frames.items():
            lo = int((start - anchor).total_seconds() // 60)
            hi = int((end - anchor).total_seconds() // 60)
            inside[tz] = (lo, hi)
        # Only the words some horizon touches can hold a shared minute.
        self.lo_word = min(lo for lo, _ in inside.values()) // 64
        self.hi_word = -(-max(hi for _, hi in inside.values()) // 64)
        masks = {tz: ((1 << (hi - lo)) - 1) << lo for tz, (lo, hi) in inside.items()}
        # Several people often share a time zone and windows: one computation each.
        rows: dict[tuple[tuple[Window, ...], str], tuple[int, int, int, int]] = {}
        for p in ordered:
            key = (p.windows, p.timezone)
            if key not in rows:
                bits = availability_bitmap(p.windows, p.timezone, anchor_day, self.days)
                mine = bits & masks[p.timezone]
                rows[key] = (bits, mine, run_starts(bits, run), run_starts(mine, run))
        table = [rows[(p.windows, p.timezone)] for p in ordered]
        # Bits of the whole frame, and within the person's own horizon; the
        # starts of runs of a session's length in each.
        self.bits = _int_rows([r[0] for r in table], words)
        self.mine = _int_rows([r[1] for r in table], words)
        self.runs = _int_rows([r[2] for r in table], words)
        self.my_runs = _int_rows([r[3] for r in table], words)
        exams: dict[str, int] = {}
        self.exam = np.array(
            [
                exams.setdefault(key, len(exams) + 1) if key else 0
                for key in (normalize_label(p.exam) for p in ordered)
            ],
            dtype=np.int32,
        )
        self.exam_count = len(exams)
        self.exam_date = np.array(
            [-1 if p.exam_date is None else p.exam_date.toordinal() for p in ordered],
            dtype=np.int64,
        )
        keys = [_subject_keys(p.subjects) for p in ordered]
        vocabulary = {key: i for i, key in enumerate(sorted(set().union(*keys)))}
        self.subject_count = len(vocabulary)
        self.subjects = _int_rows(
            [sum(1 << vocabulary[key] for key in ks) for ks in keys],
            max(1, -(-len(vocabulary) // 64)),
        )
        self.subject_columns = [[vocabulary[key] for key in ks] for ks in keys]
        self.n = n


def _pair_weights(pool: _PoolArrays, first: Any, second: Any) -> tuple[Any, Any, Any]:
    """The eligible pairs among (first[i], second[i]) and their exact scores.

    The same rule as _score_candidates for seeker `first[i]`, on arrays: shared
    minutes within the seeker's horizon, a shared run of a session's length,
    then the points in the same order of float operations, rounded half to even
    as round() does.
    """
    import numpy as np

    lo, hi = pool.lo_word, pool.hi_word
    mine, bits = pool.mine[:, lo:hi], pool.bits[:, lo:hi]
    my_runs, runs = pool.my_runs[:, lo:hi], pool.runs[:, lo:hi]
    total = np.empty(len(first), dtype=np.int64)
    linked = np.zeros(len(first), dtype=bool)
    for start in range(0, len(first), _WEIGH_CHUNK):
        a = first[start : start + _WEIGH_CHUNK]
        b = second[start : start + _WEIGH_CHUNK]
        shared = np.bitwise_count(mine[a] & bits[b]).sum(axis=1, dtype=np.int64)
        total[start : start + len(a)] = shared
        # Only pairs with enough shared minutes need the (costlier) run test.
        enough = np.flatnonzero(shared >= max(pool.floor, 1))
        together = (my_runs[a[enough]] & runs[b[enough]]).any(axis=1)
        linked[start + enough] = together
    first, second, total = first[linked], second[linked], total[linked]
    daily = np.rint(total / HORIZON_DAYS).astype(np.int64)
    points = OVERLAP_POINTS * np.minimum(daily, FULL_OVERLAP) / FULL_OVERLAP
    exam = pool.exam[first]
    points += np.where((exam > 0) & (exam == pool.exam[second]), SAME_EXAM_POINTS, 0)
    mine_date, their_date = pool.exam_date[first], pool.exam_date[second]
    apart = np.abs(mine_date - their_date)
    dated = (mine_date >= 0) & (their_date >= 0) & (apart < EXAM_DATE_WINDOW_DAYS)
    points += np.where(
        dated, EXAM_DATE_POINTS * (1 - apart / EXAM_DATE_WINDOW_DAYS), 0.0
    )
    shared = np.bitwise_count(pool.subjects[first] & pool.subjects[second])
    shared = shared.sum(axis=1, dtype=np.int64)
    points += np.minimum(SUBJECT_POINTS * shared, MAX_SUBJECT_POINTS)
    return first, second, np.rint(points).astype(np.int64)


def _likely_pairs(pool: _PoolArrays, k: int) -> tuple[Any, Any]:
    """Index pairs (i < j) where j is among i's k likeliest partners or i among j's.

    An approximate score computed for all pairs at once with numpy: shared
    availability in 32-minute slots (within the seeker's horizon, capped as the
    real score is), same exam, exam dates in 10-day buckets, subjects. The real
    score of each kept pair is computed exactly afterwards.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    n = pool.n
    k = min(k, n - 1)
    # Each person's horizon folded into one average UTC day: a pair's daily
    # overlap is then ~ the sum over the day's slots of both averages' product
    # / slot, a matrix product 8 times smaller than over the whole horizon.
    slots = DAY // _SLOT_BITS
    counts = np.bitwise_count(pool.mine.view("<u4")).reshape(n, pool.days, slots)
    profile = counts.sum(axis=1, dtype=np.float32) / np.float32(HORIZON_DAYS)
    # Overlap points: daily minutes / 3, at most 40 (the cap is applied below).
    seekers = profile * np.float32(OVERLAP_POINTS / FULL_OVERLAP / _SLOT_BITS)
    # Everything else is linear in one-hot features: one matrix product.
    known = pool.exam_date[pool.exam_date >= 0]
    base = int(known.min()) if len(known) else 0
    buckets = (int(known.max()) - base) // _DATE_BUCKET_DAYS + 1 if len(known) else 0
    hashed = pool.subject_count > _SUBJECT_BUCKETS
    subject_width = _SUBJECT_BUCKETS if hashed else pool.subject_count
    exams = pool.exam_count
    width = exams + buckets + subject_width + 1
    mine = np.zeros((n, width), np.float32)
    theirs = np.zeros((n, width), np.float32)
    rows = np.arange(n)
    has_exam = pool.exam > 0
    mine[rows[has_exam], pool.exam[has_exam] - 1] = SAME_EXAM_POINTS
    theirs[rows[has_exam], pool.exam[has_exam] - 1] = 1
    dated = pool.exam_date >= 0
    bucket = (pool.exam_date - base) // _DATE_BUCKET_DAYS
    mine[rows[dated], exams + bucket[dated]] = 1
    apart = np.abs(bucket[dated, None] - np.arange(buckets)) * _DATE_BUCKET_DAYS
    theirs[rows[dated], exams : exams + buckets] = EXAM_DATE_POINTS * np.maximum(
        0, 1 - apart / EXAM_DATE_WINDOW_DAYS
    )
    column = exams + buckets
    for i, found in enumerate(pool.subject_columns):
        for c in found:
            c = column + (c % _SUBJECT_BUCKETS if hashed else c)
            mine[i, c] = SUBJECT_POINTS
            theirs[i, c] = 1
    # The last column: 1, so that every eligible pair scores above 0, plus
    # under half a point that breaks ties towards smaller ids (and keeps the
    # selection off its slow case, a row of equal values).
    mine[:, -1] = 1
    theirs[:, -1] = 1 + np.arange(n, 0, -1, dtype=np.float32) * np.float32(0.5 / n)
    # Columns padded to whole groups; padding has no availability: ineligible.
    group = max(1, min(_GROUP, n // (2 * k)))
    padded = -(-n // group) * group
    profile = np.vstack([profile, np.zeros((padded - n, slots), np.float32)])
    theirs = np.vstack([theirs, np.zeros((padded - n, width), np.float32)])
    # Contiguous right-hand sides: the products run ~30 % faster.
    profile, theirs = np.ascontiguousarray(profile.T), np.ascontiguousarray(theirs.T)
    # Pairs sharing under half a session a week are out, like oneself.
    floor = pool.floor / HORIZON_DAYS / 2 * OVERLAP_POINTS / FULL_OVERLAP
    rows = min(n, _BLOCK_ROWS)

    def work(part: int) -> list[tuple[Any, Any]]:
        # Buffers reused block after block: fresh 20 MB arrays cost page faults.
        overlap = np.empty((rows, padded), np.float32)
        score = np.empty((rows, padded), np.float32)
        found = []
        for lo in range(part * rows, n, 2 * rows):
            hi = min(n, lo + rows)
            o, s = overlap[: hi - lo], score[: hi - lo]
            np.matmul(seekers[lo:hi], profile, out=o)
            np.matmul(mine[lo:hi], theirs, out=s)
            # The cap (40 points) is far above the floor (1.4 for an hour).
            np.minimum(o, np.float32(OVERLAP_POINTS), out=o)
            s += o
            if floor > 0:
                # Times 1 where the overlap reaches the floor, else 0, without
                # a masked write (a random mask makes those several times slower).
                np.multiply(o, np.float32(1 / floor), out=o)
                np.minimum(o, np.float32(1), out=o)
                np.floor(o, out=o)
                s *= o
            block = np.arange(hi - lo)
            s[block, block + lo] = 0
            top = _top_columns(s, k, group)
            where = np.nonzero(np.take_along_axis(s, top, axis=1) > 0)
            found.append((where[0] + lo, top[where]))
        return found

    # numpy releases the GIL in these array operations: two threads, each
    # every other block, use both cores of a small server. BLAS keeps to one
    # thread per block: its own threads would only contend with these.
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(2) as threads:
        found = [f for part in threads.map(work, range(2)) for f in part]
    a = np.concatenate([f[0] for f in found])
    b = np.concatenate([f[1] for f in found])
    key = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    return key // n, key % n


def _top_columns(score: Any, k: int, group: int) -> Any:
    """Column indices of each row's k largest values (unordered).

    Columns j, j + m, j + 2m, ... (m = width / group) form a group. A row's k
    largest values lie in the k groups with the largest maxima (each of those
    values is at most its group's maximum, and there are only k of them), so
    one cheap maximum over groups narrows a full-row selection to k groups.
    """
    import numpy as np

    rows, width = score.shape
    m = width // group
    if group == 1:
        return np.argpartition(score, width - k, axis=1)[:, width - k :]
    best = score.reshape(rows, group, m).max(axis=1)
    groups = np.argpartition(best, m - k, axis=1)[:, m - k :]
    columns = (groups[:, :, None] + m * np.arange(group)).reshape(rows, k * group)
    values = np.take_along_axis(score, columns, axis=1)
    chosen = np.argpartition(values, k * group - k, axis=1)[:, k * group - k :]
    return np.take_along_axis(columns, chosen, axis=1)


def _large_matching(
    n: int, first: Any, second: Any, weight: Any
) -> set[tuple[int, int]]:
    """A near-maximum-weight matching of a large sparse graph (nodes 0..n-1).

    1. The bipartite relaxation (each person once as "left", once as "right",
       everyone may stay alone at weight 0) is an assignment problem, solved in C
       by scipy; pairs assigned to each other both ways are kept.
    2. Everyone else (the relaxation's odd cycles) is matched exactly among
       themselves by networkx, one connected component at a time: they are few.
    3. Local improvement: a pair is made whenever dropping the two people's
       current pairs and re-pairing their partners gains weight.
    """
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    useful = weight > 0
    first, second, weight = first[useful], second[useful], weight[useful]
    if not len(weight):
        return set()
    # Costs must be positive (zero entries are not edges): cost = top - weight.
    top = int(weight.max()) + 1
    diagonal = np.arange(n)
    matrix = csr_matrix(
        (
            np.concatenate([np.full(n, top), top - weight, top - weight]).astype(
                np.float64
            ),
            (
                np.concatenate([diagonal, first, second]),
                np.concatenate([diagonal, second, first]),
            ),
        ),
        shape=(n, n),
    )
    _, column = min_weight_full_bipartite_matching(matrix)
    mutual = (column[column] == diagonal) & (column != diagonal)
    adjacent: dict[int, dict[int, int]] = {}
    for a, b, w in zip(first.tolist(), second.tolist(), weight.tolist(), strict=True):
        adjacent.setdefault(a, {})[b] = w
        adjacent.setdefault(b, {})[a] = w
    nodes = sorted(adjacent)
    mate: dict[int, int | None] = dict.fromkeys(nodes)
    for i in np.flatnonzero(mutual).tolist():
        mate[i] = int(column[i])
    rest = nx.Graph()
    for u in nodes:
        if mate[u] is None:
            for v, w in adjacent[u].items():
                if mate[v] is None:
                    rest.add_edge(u, v, weight=w)
    for part in nx.connected_components(rest):
        if len(part) <= _EXACT_PART_SIZE:
            found = nx.max_weight_matching(rest.subgraph(part))
        else:
            # Too large for the pure-Python blossom within seconds: greedy,
            # then the local improvement below.
            found = set()
            taken: set[int] = set()
            heavy = sorted(
                rest.subgraph(part).edges(data="weight"),
                key=lambda edge: (-edge[2], min(edge[:2]), max(edge[:2])),
            )
            for u, v, _ in heavy:
                if u not in taken and v not in taken:
                    taken.update((u, v))
                    found.add((u, v))
        for u, v in found:
            mate[u], mate[v] = v, u
    # Where the relaxation paired people both ways its pairs are hard to beat:
    # exchanges start from the rest (at 10,000 people: 0.3 s instead of 1 s,
    # and more weight: whole sweeps spend the budget far from the gains).
    _improve(adjacent, mate, sorted(rest))
    touched = _augment(adjacent, mate)
    # Where the relaxation was fractional, re-solve small regions exactly.
    # A fixed budget: worth most in small pools, where seconds are cheap.
    for start in sorted(rest)[: min(_REGIONS, _REGION_BUDGET // len(nodes))]:
        touched |= _resolve_region(adjacent, mate, start)
    _improve(adjacent, mate, sorted(touched))
    return {(u, v) for u, v in mate.items() if v is not None and u < v}


def _resolve_region(
    adjacent: dict[int, dict[int, int]], mate: dict[int, int | None], start: int
) -> set[int]:
    """Re-match the people nearest to start (with their partners) exactly."""
    region: list[int] = []
    seen = {start}
    frontier = deque([start])
    while frontier and len(region) < _REGION_SIZE:
        x = frontier.popleft()
        region.append(x)
        partner = mate[x]
        if partner is not None and partner not in seen:
            seen.add(partner)
            frontier.appendleft(partner)
        for y in adjacent[x]:
            if y not in seen:
                seen.add(y)
                frontier.append(y)
    inside = set(region)
    inside.update(mate[x] for x in region if mate[x] is not None)
    graph = nx.Graph()
    for x in inside:
        for y, w in adjacent[x].items():
            if y in inside:
                graph.add_edge(x, y, weight=w)
    now = sum(adjacent[x][y] for x in inside if (y := mate[x]) is not None and x < y)
    found = nx.max_weight_matching(graph)
    if sum(graph[x][y]["weight"] for x, y in found) > now:
        for x in inside:
            mate[x] = None
        for x, y in found:
            mate[x], mate[y] = y, x
        return inside
    return set()


def _augment(
    adjacent: dict[int, dict[int, int]], mate: dict[int, int | None], depth: int = 2
) -> set[int]:
    """Apply the best gaining alternating path from each person left alone.

    From u: a new pair u-v1, v1's old partner re-paired with v2, and so on up to
    `depth` old pairs broken, the last one left alone or paired with someone
    alone. Returns the people whose partner changed.
    """
    best_at = {u: max(around.values()) for u, around in adjacent.items()}
    changed: set[int] = set()
    for u in [x for x, y in mate.items() if y is None]:
        if mate[u] is not None:
            continue
        best: tuple[int, list[int]] = (0, [])
        stack: list[tuple[int, int, list[int]]] = [(u, 0, [u])]
        while stack:
            end, gain, path = stack.pop()
            for v, w in adjacent[end].items():
                if v in path:
                    continue
                partner = mate[v]
                if partner is None:
                    if gain + w > best[0]:
                        best = (gain + w, [*path, v])
                    continue
                if partner in path:
                    continue
                through = gain + w - adjacent[v][partner]
                if through > best[0]:
                    best = (through, [*path, v, partner])
                # Only go on while one more pair could still make it pay.
                if len(path) < 2 * depth and through + best_at[partner] > best[0]:
                    stack.append((partner, through, [*path, v, partner]))
        if best[0] > 0:
            path = best[1]
            for x in path:
                mate[x] = None
            for i in range(0, len(path) - 1, 2):
                mate[path[i]], mate[path[i + 1]] = path[i + 1], path[i]
            changed.update(path)
    return changed


def _improve(
    adjacent: dict[int, dict[int, int]],
    mate: dict[int, int | None],
    start: Iterable[int],
    passes: int = 6,
) -> None:
    """Apply gaining exchanges around edges of `start` and of changes (in place)."""
    best_at = {u: max(around.values()) for u, around in adjacent.items()}
    # Almost everyone is paired: scanning the few people alone is cheaper than
    # scanning a partner's whole neighbourhood.
    alone = {u for u, v in mate.items() if v is None}

    def weight(a: int, b: int | None) -> int:
        return adjacent[a][b] if b is not None else 0

    def best_free(x: int | None, banned: set[int]) -> tuple[int | None, int]:
        if x is None:
            return None, 0
        around = adjacent[x]
        best, best_weight = None, 0
        # A set intersection in C: usually empty, since few people are alone.
        for y in around.keys() & alone:
            w = around[y]
            if w > best_weight and y not in banned:
                best, best_weight = y, w
        return best, best_weight

    # A work list rather than whole passes: after the first sweep only people
    # next to a change can have a gaining exchange.
    queue = deque(start)
    queued = set(queue)
    budget = passes * len(adjacent)

    def push(x: int | None) -> None:
        if x is not None and x not in queued:
            queued.add(x)
            queue.append(x)

    while queue and budget > 0:
        budget -= 1
        u = queue.popleft()
        queued.discard(u)
        for v, gain in adjacent[u].items():
            up, vp = mate[u], mate[v]
            if up == v:
                continue
            lost = weight(u, up) + weight(v, vp)
            # Even re-pairing both partners at their best cannot pay: skip.
            bound = gain + (best_at[up] if up is not None else 0)
            bound += best_at[vp] if vp is not None else 0
            if bound <= lost:
                continue
            # Once u-v is made, u's and v's partners are re-paired with each
            # other, or each with someone alone, or left alone.
            banned = {u, v}
            x1, w1 = best_free(up, banned)
            x2, w2 = best_free(vp, banned)
            if x1 is not None and x1 == x2:
                y2, v2 = best_free(vp, banned | {x1})
                y1, v1 = best_free(up, banned | {x1})
                if w1 + v2 >= v1 + w2:
                    x2, w2 = y2, v2
                else:
                    x1, w1 = y1, v1
            options = [(w1 + w2, [(up, x1), (vp, x2)])]
            if up is not None and vp is not None and vp in adjacent[up]:
                options.append((adjacent[up][vp], [(up, vp)]))
            regained, pairs = max(options, key=lambda option: option[0])
            if gain + regained <= lost:
                continue
            for x in (up, vp):
                if x is not None:
                    mate[x] = None
                    alone.add(x)
            mate[u], mate[v] = v, u
            alone.difference_update((u, v))
            for x, y in pairs:
                if x is not None and y is not None:
                    mate[x], mate[y] = y, x
                    alone.difference_update((x, y))
            for x in (v, up, vp, x1, x2):
                push(x)
            # Someone newly alone is a chance for each of their neighbours.
            for x in (up, vp):
                if x is not None and mate[x] is None:
                    for y in adjacent[x]:
                        push(y)
