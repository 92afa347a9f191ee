"""Seed N benchmark users (default 10,000) into DATABASE_URL, fast and deterministic.

    DATABASE_URL=sqlite:////tmp/bench.db python -m bench.seed_users --users 10000

The schema is created through the migrations (the same path the server takes),
then users, profiles, partnerships, blocks and a few pending partner requests are
bulk-inserted with SQLAlchemy Core. Every value goes through the same cleaning the
app applies (availability through ``clean_availability``), so the rows are exactly
what real sign-ups would have stored. The random spread is seeded: the same
``--seed`` gives the same people (exam dates are relative to today).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from werkzeug.security import generate_password_hash

from ally import create_app
from ally.database import upgrade_database
from ally.extensions import db
from ally.models import Block, PartnerRequest, Partnership, Profile, User, pair_key
from ally.services.errors import Invalid
from ally.services.profiles import clean_availability, clean_subjects

PASSWORD = "bench-password-123"
EMAIL_DOMAIN = "bench.example.com"
DEFAULT_USERS = 10_000
DEFAULT_SEED = 20240601
CHUNK = 2_000

# Weighted towards where USMLE/IMG students live (relative weights).
TIMEZONES: tuple[tuple[str, int], ...] = (
    ("America/New_York", 18),
    ("America/Chicago", 10),
    ("America/Los_Angeles", 9),
    ("America/Denver", 3),
    ("America/Toronto", 4),
    ("America/Sao_Paulo", 2),
    ("America/Mexico_City", 1),
    ("Europe/London", 6),
    ("Europe/Berlin", 3),
    ("Asia/Kolkata", 12),
    ("Asia/Karachi", 7),
    ("Asia/Dhaka", 2),
    ("Asia/Dubai", 4),
    ("Asia/Riyadh", 1),
    ("Asia/Manila", 5),
    ("Asia/Kathmandu", 2),
    ("Australia/Sydney", 2),
    ("Africa/Lagos", 4),
    ("Africa/Cairo", 4),
)
EXAMS: tuple[tuple[str | None, int], ...] = (
    ("USMLE Step 1", 60),
    ("USMLE Step 2 CK", 14),
    ("COMLEX Level 1", 7),
    ("PLAB", 6),
    ("MCAT", 6),
    ("USMLE Step 3", 3),
    ("NEET PG", 2),
    (None, 2),
)
SUBJECTS = (
    "Cardiology",
    "Renal",
    "Pharmacology",
    "Biochemistry",
    "Microbiology",
    "Immunology",
    "Pathology",
    "Physiology",
    "Neurology",
    "Endocrine",
    "Reproductive",
    "Hematology",
    "Respiratory",
    "Gastrointestinal",
    "Biostatistics",
)
FIRST = (
    "Aisha Ana Arjun Ben Carlos Chen Chioma Daniel Fatima Grace Hana Hassan Ifeoma "
    "Jose Kavya Layla Liam Maria Mei Mohammed Nadia Noah Olu Priya Rahul Rosa Sara "
    "Sofia Tariq Tunde Wei Yusuf Zainab"
).split()
LAST = "ABCDEFGHIJKLMNOPRSTVWYZ"


def _weighted(rng: random.Random, items: Sequence[tuple[Any, int]]) -> Any:
    values, weights = zip(*items, strict=True)
    return rng.choices(values, weights=weights)[0]


def _hhmm(minute: int) -> str:
    minute %= 1440
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _window(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "evening":  # 17:00-21:00 start, 1-4 h
        start = rng.randrange(17 * 60, 21 * 60 + 1, 30)
        length = rng.randrange(60, 241, 30)
    elif kind == "late":  # crosses midnight: 21:30-23:30 start, 1.5-3 h
        start = rng.randrange(21 * 60 + 30, 23 * 60 + 31, 30)
        length = rng.randrange(90, 181, 30)
    elif kind == "morning":  # 05:00-09:00 start, 1-3 h
        start = rng.randrange(5 * 60, 9 * 60 + 1, 30)
        length = rng.randrange(60, 181, 30)
    else:  # "midday": 11:00-15:00 start, 1-3 h
        start = rng.randrange(11 * 60, 15 * 60 + 1, 30)
        length = rng.randrange(60, 181, 30)
    return {"start": _hhmm(start), "end": _hhmm(start + length)}


def _availability(rng: random.Random) -> list[dict[str, Any]]:
    """1-3 windows, mostly evenings; ~20% of people limited to weekdays."""
    weekdays_only = rng.random() < 0.2
    while True:
        count = rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
        kinds = rng.choices(
            ("evening", "late", "morning", "midday"),
            weights=(55, 15, 20, 10),
            k=count,
        )
        items = [_window(rng, kind) for kind in kinds]
        if weekdays_only:
            for item in items:
                item["weekdays"] = [0, 1, 2, 3, 4]
        elif count > 1 and rng.random() < 0.15:
            items[-1]["weekdays"] = [5, 6]  # an extra weekend slot
        try:
            return clean_availability(items)
        except Invalid:
            continue  # e.g. a weekend window clashing with an every-day one


def build_rows(
    n: int, seed: int, today: date, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Users and profiles rows (ids 1..n in a fresh database)."""
    rng = random.Random(seed)
    # One scrypt hash reused for every benchmark user: hashing 10,000 passwords
    # would take minutes and measure nothing the suggestions endpoint does.
    password_hash = generate_password_hash(PASSWORD, method="scrypt")
    users, profiles = [], []
    for i in range(1, n + 1):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}. {i}"
        users.append(
            {
                "id": i,
                "email": f"bench{i:05d}@{EMAIL_DOMAIN}",
                "password_hash": password_hash,
                "display_name": name,
                "timezone": _weighted(rng, TIMEZONES),
                "auth_version": 1,
                "created_at": now,
            }
        )
        exam = _weighted(rng, EXAMS)
        has_date = exam is not None and rng.random() < 0.9
        profiles.append(
            {
                "user_id": i,
                "exam": exam,
                "exam_date": (
                    today + timedelta(days=rng.randint(7, 365)) if has_date else None
                ),
                "subjects": clean_subjects(rng.sample(SUBJECTS, rng.randint(1, 5))),
                "bio": "",
                "availability": _availability(rng),
                "looking_for_partner": rng.random() < 0.9,
                "auto_match": rng.random() < 0.3,
                "updated_at": now,
            }
        )
    return users, profiles


def build_relations(
    n: int, seed: int, now: datetime, timezones: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Partnerships (~3% of users paired), blocks (~1%) and pending requests (~2%)."""
    rng = random.Random(seed + 1)
    ids = list(range(1, n + 1))
    rng.shuffle(ids)
    pairs = max(1, n * 3 // 100)
    partnerships = []
    for k in range(pairs):
        a, b = ids[2 * k], ids[2 * k + 1]
        partnerships.append(
            {
                "user_a_id": a,
                "user_b_id": b,
                "daily_minute": rng.randrange(6 * 60, 23 * 60, 30),
                "timezone": timezones[b - 1],
                "session_minutes": 60,
                "turns": 4,
                "weekdays": 127,
                # Most open (they exclude both members), some ended (they do not).
                "status": rng.choices(("active", "paused", "ended"), (80, 8, 12))[0],
                "created_at": now - timedelta(days=rng.randint(1, 120)),
            }
        )
    blocks: dict[tuple[int, int], dict[str, Any]] = {}
    while len(blocks) < max(1, n // 100):
        a, b = rng.sample(range(1, n + 1), 2)
        blocks[(a, b)] = {"blocker_id": a, "blocked_id": b, "created_at": now}
    requests: dict[str, dict[str, Any]] = {}
    while len(requests) < max(1, n // 50):
        a, b = rng.sample(range(1, n + 1), 2)
        requests.setdefault(
            pair_key(a, b),
            {
                "from_user_id": a,
                "to_user_id": b,
                "pair_key": pair_key(a, b),
                "message": "Want to study together?",
                "status": "pending",
                "created_at": now,
                "expires_at": now + timedelta(days=7),
            },
        )
    return partnerships, list(blocks.values()), list(requests.values())


def _insert(table, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        db.session.execute(insert(table), rows[i : i + CHUNK])


def seed(database_url: str, n: int = DEFAULT_USERS, seed: int = DEFAULT_SEED) -> dict:
    """Migrate the (empty) database and insert n users; returns a summary."""
    started = time.perf_counter()
    for prefix in ("postgres://", "postgresql://"):  # psycopg 3, as the app does
        if database_url.startswith(prefix):
            database_url = "postgresql+psycopg://" + database_url[len(prefix) :]
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench-seed",
            "ALLY_SCHEDULER": "off",
        }
    )
    upgrade_database(app)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    users, profiles = build_rows(n, seed, today, now)
    relations = build_relations(n, seed, now, [u["timezone"] for u in users])
    with app.app_context():
        if db.session.scalar(select(func.count()).select_from(User)):
            raise SystemExit(f"{database_url} already has users; use a fresh database")
        _insert(User.__table__, users)
        _insert(Profile.__table__, profiles)
        for model, rows in zip(
            (Partnership, Block, PartnerRequest), relations, strict=True
        ):
            _insert(model.__table__, rows)
        if db.engine.dialect.name == "postgresql":
            # Explicit ids were inserted: move the sequence past them.
            db.session.execute(
                db.text("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
            )
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        db.engine.dispose()
    partnerships, blocks, requests = relations
    return {
        "users": n,
        "looking": sum(p["looking_for_partner"] for p in profiles),
        "partnerships": len(partnerships),
        "open_partnerships": sum(p["status"] != "ended" for p in partnerships),
        "blocks": len(blocks),
        "pending_requests": len(requests),
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: DATABASE_URL from the environment or --database-url."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    summary = seed(args.database_url, args.users, args.seed)
    print(", ".join(f"{k}={v}" for k, v in summary.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
