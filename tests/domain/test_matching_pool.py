"""The auto-match pool on large pools: near the exact optimum of the full graph."""

import random
from datetime import UTC, date, datetime, timedelta

import networkx as nx
import numpy as np
import pytest

from ally.domain import matching
from ally.domain.availability import Window
from ally.domain.matching import Person, pair_weight, pool_pairs, rank_candidates

NOW = datetime(2026, 5, 13, 14, 0, tzinfo=UTC)
ZONES = ("America/New_York", "America/Chicago", "Europe/London", "Asia/Kolkata")
EXAMS = ("USMLE Step 1", "USMLE Step 1", "PLAB", None)
SUBJECTS = ("Cardiology", "Renal", "Pharmacology", "Immunology", "Pathology")


def random_pool(n: int, seed: int) -> list[Person]:
    rng = random.Random(seed)
    people = []
    for user_id in range(1, n + 1):
        windows = []
        for _ in range(rng.choice((1, 1, 2))):
            start = rng.randrange(5 * 60, 23 * 60, 30)
            length = rng.randrange(60, 241, 30)
            days = None if rng.random() < 0.8 else frozenset(range(5))
            windows.append(Window(start, (start + length) % 1440, days))
        exam = rng.choice(EXAMS)
        people.append(
            Person(
                user_id,
                f"user {user_id}",
                rng.choice(ZONES),
                exam,
                date(2026, 6, 1) + timedelta(days=rng.randrange(200)) if exam else None,
                tuple(rng.sample(SUBJECTS, rng.randint(0, 3))),
                tuple(windows),
            )
        )
    return people


def exact_weight(people: list[Person]) -> int:
    graph = nx.Graph()
    for i, person in enumerate(people):
        for found in rank_candidates(person, people[i + 1 :], NOW):
            graph.add_edge(person.user_id, found.user_id, weight=found.score)
    return sum(graph[u][v]["weight"] for u, v in nx.max_weight_matching(graph))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_large_pool_is_within_one_percent_of_the_exact_optimum(seed):
    people = random_pool(150, seed)
    by_id = {p.user_id: p for p in people}
    # exact_up_to=0: the path taken by pools too large for the exact matching.
    pairs = pool_pairs(people, NOW, exact_up_to=0)
    matched = [uid for pair in pairs for uid in pair]
    assert len(matched) == len(set(matched))
    assert all(a < b for a, b in pairs) and pairs == sorted(pairs)
    weights = [pair_weight(by_id[a], by_id[b], NOW) for a, b in pairs]
    assert None not in weights
    assert sum(weights) >= 0.99 * exact_weight(people)


def test_large_pool_never_makes_an_excluded_pair():
    people = random_pool(150, 4)
    first = pool_pairs(people, NOW, exact_up_to=0)
    excluded = frozenset(first[:20])
    second = pool_pairs(people, NOW, exact_up_to=0, excluded=excluded)
    assert not excluded & set(second)


def test_large_pool_does_not_depend_on_the_order_given():
    people = random_pool(150, 5)
    shuffled = people[:]
    random.Random(9).shuffle(shuffled)
    assert pool_pairs(people, NOW, exact_up_to=0) == pool_pairs(
        shuffled, NOW, exact_up_to=0
    )


@pytest.mark.parametrize(
    ("now", "session"),
    [
        (NOW, 60),
        # Clock changes inside the horizons: New York's spring, London's autumn.
        (datetime(2026, 3, 7, 20, 0, tzinfo=UTC), 30),
        (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), 90),
    ],
)
def test_pool_weights_pairs_exactly_as_pair_weight_does(now, session):
    # The pool weighs pairs on arrays (_pair_weights); the rule is pair_weight's.
    people = random_pool(120, 7)
    rng = random.Random(session)
    first, second = zip(
        *(rng.sample(range(len(people)), 2) for _ in range(2000)), strict=True
    )
    pool = matching._PoolArrays(people, now, session)
    kept_first, kept_second, weights = matching._pair_weights(
        pool, np.array(first), np.array(second)
    )
    found = {
        (int(a), int(b)): int(w)
        for a, b, w in zip(kept_first, kept_second, weights, strict=True)
    }
    expected = {
        (a, b): pair_weight(people[a], people[b], now, session)
        for a, b in zip(first, second, strict=True)
    }
    assert found == {pair: w for pair, w in expected.items() if w is not None}
    # Both kinds of pair are among the 2,000: the comparison means something.
    assert len(found) > 200 and len(found) < len(expected)
