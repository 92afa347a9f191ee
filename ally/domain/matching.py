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
import zlib
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
# Leftover components up to this size are matched exactly (well under a second).
_EXACT_PART_SIZE = 150
# Regions re-solved exactly after the local improvement, and their size.
_REGIONS = 20
_REGION_SIZE = 60


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
    elif len(ordered) <= exact_up_to:
        # Each pair is weighed once, from the horizon of its smaller id, so the
        # result does not depend on the order people are given in.
        edges = _weigh(ordered, _all_pairs(len(ordered)), now, session_minutes)
        edges = {k: w for k, w in edges.items() if k not in excluded}
    else:
        # Smaller pools can afford more candidates each, and gain from them.
        k = max(POOL_CANDIDATES, min(2 * POOL_CANDIDATES, 32_000 // len(ordered)))
        likely = _likely_pairs(ordered, now, session_minutes, k)
        edges = _weigh(ordered, likely, now, session_minutes)
        edges = {k: w for k, w in edges.items() if k not in excluded}
    if len(ordered) <= exact_up_to:
        matching = _exact_matching(edges)
    else:
        matching = _large_matching(edges)
    return sorted(matching)


def _all_pairs(n: int) -> list[list[int]]:
    return [list(range(i + 1, n)) for i in range(n)]


def _weigh(
    ordered: Sequence[Person],
    later: Sequence[Sequence[int]],
    now: datetime,
    session_minutes: int,
) -> dict[tuple[int, int], int]:
    """Exact scores of the eligible pairs (i, j > i in later[i]), keyed by ids."""
    edges: dict[tuple[int, int], int] = {}
    for i, person in enumerate(ordered):
        if not later[i]:
            continue
        # Scores only: the reasons shown to a seeker are not needed here.
        found, _ = _score_candidates(
            person, [ordered[j] for j in later[i]], now, session_minutes, 0
        )
        for neg_score, _, user_id, _ in found:
            edges[(person.user_id, user_id)] = -neg_score
    return edges


def _exact_matching(edges: dict[tuple[int, int], int]) -> set[tuple[int, int]]:
    graph = nx.Graph()
    for (a, b), weight in edges.items():
        graph.add_edge(a, b, weight=weight)
    return {(min(u, v), max(u, v)) for u, v in nx.max_weight_matching(graph)}


def _likely_pairs(
    ordered: Sequence[Person], now: datetime, session_minutes: int, k: int
) -> list[list[int]]:
    """For each index i, the indices j > i among anyone's k likeliest partners.

    An approximate score computed for all pairs at once with numpy: shared
    availability in 32-minute slots (within the seeker's horizon, capped as the
    real score is), same exam, exam dates in 10-day buckets, subjects hashed into
    64 buckets. The real score of each kept pair is computed exactly afterwards.
    """
    import numpy as np

    n = len(ordered)
    if n < 2:
        return [[] for _ in ordered]
    frames = {p.timezone: horizon(now, p.timezone, HORIZON_DAYS) for p in ordered}
    first = min(start for start, _ in frames.values())
    last = max(end for _, end in frames.values())
    anchor_day = first.astimezone(UTC).date()
    anchor = datetime.combine(anchor_day, time(), UTC)
    days = -(-int((last - anchor).total_seconds() // 60) // DAY)
    size = days * DAY // 8
    slots = days * DAY // _SLOT_BITS
    raw = b"".join(
        availability_bitmap(p.windows, p.timezone, anchor_day, days).to_bytes(
            size, "little"
        )
        for p in ordered
    )
    counts = np.bitwise_count(np.frombuffer(raw, dtype="<u4")).reshape(n, slots)
    counts = counts.astype(np.float32)
    inside = {}
    for tz, (start, end) in frames.items():
        mask = np.zeros(slots, np.float32)
        lo = int((start - anchor).total_seconds() // 60) // _SLOT_BITS
        hi = -(-int((end - anchor).total_seconds() // 60) // _SLOT_BITS)
        mask[lo:hi] = 1.0 / HORIZON_DAYS
        inside[tz] = mask
    # Each person's horizon folded into one average UTC day: a pair's daily
    # overlap is then ~ the sum over the day's slots of both averages' product
    # / slot, a matrix product 8 times smaller than over the whole horizon.
    counts *= np.stack([inside[p.timezone] for p in ordered])
    profile = counts.reshape(n, days, DAY // _SLOT_BITS).sum(axis=1)
    seekers = profile / _SLOT_BITS
    # Everything else is linear in one-hot features: one matrix product.
    exams: dict[str, int] = {}
    exam_of = [normalize_label(p.exam) for p in ordered]
    for key in exam_of:
        if key:
            exams.setdefault(key, len(exams))
    known = [p.exam_date for p in ordered if p.exam_date is not None]
    base = min(known).toordinal() if known else 0
    buckets = (max(known).toordinal() - base) // _DATE_BUCKET_DAYS + 1 if known else 0
    width = len(exams) + buckets + _SUBJECT_BUCKETS
    mine = np.zeros((n, width), np.float32)
    theirs = np.zeros((n, width), np.float32)
    centres = np.arange(buckets, dtype=np.float32) * _DATE_BUCKET_DAYS
    subject_col = len(exams) + buckets
    for i, person in enumerate(ordered):
        if exam_of[i]:
            mine[i, exams[exam_of[i]]] = SAME_EXAM_POINTS
            theirs[i, exams[exam_of[i]]] = 1
        if person.exam_date is not None:
            bucket = (person.exam_date.toordinal() - base) // _DATE_BUCKET_DAYS
            mine[i, len(exams) + bucket] = 1
            apart = np.abs(centres - bucket * _DATE_BUCKET_DAYS)
            theirs[i, len(exams) : subject_col] = EXAM_DATE_POINTS * np.maximum(
                0, 1 - apart / EXAM_DATE_WINDOW_DAYS
            )
        for key in _subject_keys(person.subjects):
            column = subject_col + _stable_bucket(key)
            mine[i, column] = SUBJECT_POINTS
            theirs[i, column] = 1
    floor = session_minutes / (2 * HORIZON_DAYS)
    k = min(k, n - 1)
    later: list[set[int]] = [set() for _ in range(n)]
    # Below half a point: breaks ties towards smaller ids, and keeps
    # argpartition fast (a row of equal values is its slow case).
    ramp = np.arange(n, 0, -1, dtype=np.float32) * np.float32(0.5 / n)
    block = 1024

    def top_of(lo: int) -> tuple[int, Any, Any]:
        hi = min(n, lo + block)
        daily = seekers[lo:hi] @ profile.T
        score = mine[lo:hi] @ theirs.T
        np.minimum(daily, FULL_OVERLAP, out=daily)
        score += daily * (OVERLAP_POINTS / FULL_OVERLAP)
        score[daily < floor] = -1
        rows = np.arange(hi - lo)
        score[rows, rows + lo] = -1
        score += ramp
        top = np.argpartition(score, n - k, axis=1)[:, n - k :]
        return lo, top, np.take_along_axis(score, top, axis=1) >= 0

    # numpy releases the GIL in these array operations: two blocks at a time
    # use both cores of a small server.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for lo, top, kept in pool.map(top_of, range(0, n, block)):
            for r, j in zip(*np.nonzero(kept), strict=True):
                a, b = lo + int(r), int(top[r, j])
                later[min(a, b)].add(max(a, b))
    return [sorted(s) for s in later]


@lru_cache(maxsize=65536)
def _stable_bucket(key: str) -> int:
    # Not hash(): string hashing is salted per process; the result must not be.
    return zlib.crc32(key.encode()) % _SUBJECT_BUCKETS


def _large_matching(edges: dict[tuple[int, int], int]) -> set[tuple[int, int]]:
    """A near-maximum-weight matching of a large sparse graph, in seconds.

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

    adjacent: dict[int, dict[int, int]] = {}
    for (a, b), weight in edges.items():
        if weight > 0:
            adjacent.setdefault(a, {})[b] = weight
            adjacent.setdefault(b, {})[a] = weight
    nodes = sorted(adjacent)
    if not nodes:
        return set()
    index = {u: i for i, u in enumerate(nodes)}
    n = len(nodes)
    # Costs must be positive (zero entries are not edges): cost = top - weight.
    top = max(edges.values()) + 1
    rows = list(range(n))
    cols = list(range(n))
    costs = [float(top)] * n
    for (a, b), weight in edges.items():
        if weight > 0:
            rows += [index[a], index[b]]
            cols += [index[b], index[a]]
            costs += [float(top - weight)] * 2
    matrix = csr_matrix(
        (np.array(costs), (np.array(rows), np.array(cols))), shape=(n, n)
    )
    _, column = min_weight_full_bipartite_matching(matrix)
    mate: dict[int, int | None] = dict.fromkeys(nodes)
    for i, j in enumerate(column):
        if j != i and column[j] == i:
            mate[nodes[i]] = nodes[j]
    rest = nx.Graph()
    for u in nodes:
        if mate[u] is None:
            for v, weight in adjacent[u].items():
                if mate[v] is None:
                    rest.add_edge(u, v, weight=weight)
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
    _improve(adjacent, mate, adjacent)
    touched = _augment(adjacent, mate)
    # Where the relaxation was fractional, re-solve small regions exactly.
    # A fixed budget: worth most in small pools, where seconds are cheap.
    for start in sorted(rest)[: min(_REGIONS, 20_000 // len(nodes))]:
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
