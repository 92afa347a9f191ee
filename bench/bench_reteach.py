"""Benchmark what the re-teach schedule's FSRS update adds to a rating (issue 12).

    python -m bench.bench_reteach                      # 2,000 ratings, SQLite
    python -m bench.bench_reteach --ratings 5000
    python -m bench.bench_reteach --backend postgres   # a fresh PostgreSQL db

In-process, on a fresh migrated database: one pair, --ratings explanations
of --topics topics, each a live session in its rating phase (as
tests/support/reteach.py writes them), rated in time order through the room's
own `room.events.rate`, the path a socket `rate` takes. Timed per rating:

- the whole rating (`events.rate`: validation, the room's compare-and-set, the
  rating row, the card, the commit, the pushes);
- the card update alone (`services.reteach.review`, inside that transaction:
  read the turn, create-if-missing and lock the card, FSRS, write it);
- the FSRS step alone (`domain.reteach.review`, pure).

Prints median and p95 in ms; the issue's budget is < 1 ms added per rating.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ally import create_app
from ally.database import upgrade_database
from ally.domain import reteach as rules
from ally.extensions import db
from ally.services import reteach
from ally.services.room import events
from tests.conftest import pair_up, user_maker
from tests.support.reteach import live_turn
from tests.support.services import fresh_postgres_database

START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the sorted values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def timed(function: Callable, into: list[float]) -> Callable:
    """The function, appending each call's duration (ms) to `into`."""

    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            into.append((time.perf_counter() - began) * 1000)

    return wrapper


def run(ratings: int, topics: int, url: str | None) -> dict[str, list[float]]:
    """Rate `ratings` explanations; the durations (ms) of each part."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-reteach-"))
    application = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{workdir / 'ally.db'}",
            "SECRET_KEY": "bench",
            "ALLY_SCHEDULER": "off",
        }
    )
    upgrade_database(application)
    rng = random.Random(12)
    whole, card, fsrs = [], [], []
    with application.app_context():
        make = user_maker()
        ann, ben = make("ann@bench.example"), make("ben@bench.example")
        pid = pair_up(ann, ben).id
        titles = [f"Topic {n}" for n in range(topics)]
        plan = [
            (titles[i % topics], rng.choice((1, 2, 3, 3, 4, 4, 4, 5)))
            for i in range(ratings)
        ]
        # Every explanation ends two hours after the one before.
        sessions = [
            live_turn(ann, ben, pid, title, START + timedelta(hours=2 * i)).id
            for i, (title, _) in enumerate(plan)
        ]
        real_review = reteach.review
        events.reteach.review = timed(real_review, card)
        try:
            for i, (session_id, (_, simplicity)) in enumerate(
                zip(sessions, plan, strict=True)
            ):
                ended = START + timedelta(hours=2 * i)
                rate = timed(events.rate, whole)
                rate(
                    ben.id,
                    session_id,
                    0,
                    simplicity,
                    "",
                    [],
                    ended + timedelta(minutes=1),
                )
        finally:
            events.reteach.review = real_review
        state: dict[str, rules.CardState | None] = dict.fromkeys(titles)
        for i, (title, simplicity) in enumerate(plan):
            at = START + timedelta(hours=2 * i)
            began = time.perf_counter()
            state[title] = rules.review(state[title], simplicity, at)
            fsrs.append((time.perf_counter() - began) * 1000)
        db.session.remove()
        db.engine.dispose()
    return {"whole rating": whole, "card update": card, "FSRS step": fsrs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=2000)
    parser.add_argument("--topics", type=int, default=40)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    if args.backend == "postgres":
        with fresh_postgres_database() as url:
            results = run(args.ratings, args.topics, url)
    else:
        results = run(args.ratings, args.topics, None)
    backend = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[args.backend]
    print(f"{args.ratings} ratings of {args.topics} topics on {backend}\n")
    print("| part | median ms | p95 ms |")
    print("|---|---|---|")
    for name, values in results.items():
        print(
            f"| {name} | {statistics.median(values):.3f} "
            f"| {percentile(values, 0.95):.3f} |"
        )


def rows(full: bool) -> list:
    """Suite rows (bench/suite.py): each part of a rating, on SQLite."""
    from bench.suite import Row

    ratings = 2000 if full else 300
    results = run(ratings, 40, None)
    return [
        Row(
            scenario=f"reteach: {name}",
            size=f"{ratings:,} ratings, sqlite",
            p50_ms=statistics.median(values),
            p95_ms=percentile(values, 0.95),
            p99_ms=percentile(values, 0.99),
            note="in-process",
        )
        for name, values in results.items()
    ]


if __name__ == "__main__":
    main()
