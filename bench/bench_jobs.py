"""Benchmark the scheduled jobs with 10,000 active partnerships (issue 3).

    python -m bench.bench_jobs                      # SQLite
    python -m bench.bench_jobs --backend postgres   # a fresh PostgreSQL database
    python -m bench.bench_jobs --backend both --repeat 5

A fresh database is migrated and seeded with 20,000 users (bench.seed_users),
10,000 active partnerships (time zones and daily times spread like real
sign-ups) and three days of past sessions and notifications. For two instants
of one day, "typical" (about 1/12 of the partnerships start within the next
2 hours) and "peak" (the busiest 2 hours), the state at that instant is rebuilt
and every job is run once in-process through ``ally.jobs.run_job``: timed, with
its SQL statements counted (SQLAlchemy ``before_cursor_execute``), --repeat
times. A child process then runs the real APScheduler
(``ally.scheduler.build_scheduler``) over the peak state and reports its
resident memory. Prints markdown tables and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES
from sqlalchemy import event, func, select

import ally.scheduler as scheduler_module
from ally import create_app
from ally.database import upgrade_database
from ally.domain import room as rules
from ally.domain.schedule import occurrences, turn_lengths
from ally.domain.timezones import local_date, localize
from ally.extensions import db
from ally.jobs import run_job
from ally.models import (
    JobRun,
    LiveSocket,
    Notification,
    Partnership,
    Profile,
    Rating,
    SessionParticipant,
    Signal,
    TeachSession,
    Turn,
    User,
)
from ally.services.schedule import _session_row, schedule_of
from bench.bench_suggestions import (
    _libpq,
    add_backend_arguments,
    machine,
    percentile,
    postgres_database,
    sqlite_database,
    write_report,
)
from bench.seed_users import DEFAULT_SEED, _insert, _weighted, _window, build_rows

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SECRET_KEY = "bench-secret-key"
DEFAULT_PARTNERSHIPS = 10_000
HISTORY_DAYS = 3
LIVE_DUE = 1_000  # live sessions whose phase deadline has just passed
STALL_SECONDS = 30  # ... spread over the last half minute (a restart, a stall)
NEXT_TICK = timedelta(seconds=15)  # the interval of open_sessions and reminders
GRACE = timedelta(minutes=10)  # ALLY_NO_SHOW_MINUTES (default)
MEMORY_SECONDS = 35.0

# Choices people make (relative weights). Reminder minutes: REMINDER_CHOICES of
# ally.services.accounts, the default (10) most common.
REMINDERS: tuple[tuple[int, int], ...] = (
    (0, 5),
    (5, 5),
    (10, 45),
    (15, 10),
    (30, 15),
    (60, 12),
    (120, 8),
)
SESSION_MINUTES = ((60, 70), (45, 10), (90, 10), (30, 10))
TURNS = ((4, 70), (2, 15), (6, 15))
WEEKDAYS = ((127, 75), (0b0011111, 20), (0b0101010, 5))  # all, Mon-Fri, Tue/Thu/Sat
# When a pair meets, in the zone of member B: like the windows of bench.seed_users.
DAILY_KINDS = (("evening", 55), ("late", 15), ("morning", 20), ("midday", 10))
TOPICS = ("Renin-angiotensin system", "Cardiac cycle", "Acid-base", "Beta-lactams")

# (label, job, offset from the instant): the catch-up passes first (the state the
# instant was built for), then one ordinary tick of each job right after them.
PASSES: tuple[tuple[str, str, timedelta], ...] = (
    ("open_sessions", "open_sessions", timedelta(0)),
    ("send_reminders", "send_reminders", timedelta(0)),
    ("advance_phases", "advance_phases", timedelta(0)),
    ("mark_no_shows", "mark_no_shows", timedelta(0)),
    ("advance_phases, next tick (+1 s)", "advance_phases", timedelta(seconds=1)),
    ("open_sessions, next tick (+15 s)", "open_sessions", NEXT_TICK),
    ("send_reminders, next tick (+15 s)", "send_reminders", NEXT_TICK),
    ("mark_no_shows, next tick (+15 s)", "mark_no_shows", NEXT_TICK),
)


# --- the seeded world --------------------------------------------------------


def bench_day(today: date) -> date:
    """The most recent Wednesday before today: every weekday pattern meets or not."""
    back = (today.weekday() - 2) % 7 or 7
    return today - timedelta(days=back)


def build_partnerships(
    users: list[dict[str, Any]], count: int, seed: int, day: date
) -> list[dict[str, Any]]:
    """`count` active partnerships over disjoint pairs of users (ids 1..count)."""
    rng = random.Random(seed + 2)
    ids = [u["id"] for u in users]
    rng.shuffle(ids)
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rows = []
    for k in range(count):
        a, b = ids[2 * k], ids[2 * k + 1]
        start = _window(rng, _weighted(rng, DAILY_KINDS))["start"]
        hours, minutes = map(int, start.split(":"))
        rows.append(
            {
                "id": k + 1,
                "user_a_id": a,
                "user_b_id": b,
                "daily_minute": hours * 60 + minutes,
                # The pair's time is fixed in B's zone, as accepting a request does.
                "timezone": users[b - 1]["timezone"],
                "session_minutes": _weighted(rng, SESSION_MINUTES),
                "turns": _weighted(rng, TURNS),
                "weekdays": _weighted(rng, WEEKDAYS),
                "meeting_url": (
                    f"https://meet.example.com/ally-{k + 1}"
                    if rng.random() < 0.4
                    else None
                ),
                "status": "active",
                "created_at": midnight
                - timedelta(seconds=rng.randrange(3 * 86400, 10 * 86400)),
            }
        )
    return rows


class World:
    """The seeded rows and everything needed to rebuild the state at an instant."""

    def __init__(self, partnerships: int, seed: int) -> None:
        self.seed = seed
        self.day = bench_day(datetime.now(UTC).date())
        midnight = datetime.combine(self.day, datetime.min.time(), tzinfo=UTC)
        self.users, self.profiles = build_rows(
            2 * partnerships, seed, self.day, midnight - timedelta(days=30)
        )
        rng = random.Random(seed + 3)
        for user in self.users:
            user["reminder_minutes"] = _weighted(rng, REMINDERS)
            user["email_notifications"] = True
        self.partnerships = build_partnerships(self.users, partnerships, seed, self.day)
        self.pships = [SimpleNamespace(**row) for row in self.partnerships]
        self.schedules = {p.id: schedule_of(p) for p in self.pships}
        self.reminder = {u["id"]: u["reminder_minutes"] for u in self.users}
        self.history_end: datetime | None = None
        self.history_sessions = 0
        self.history_turns = 0
        self.history_notifications = 0

    def starts_between(self, start: datetime, end: datetime) -> list:
        """(partnership, occurrence) for every meeting starting in [start, end)."""
        found = []
        for p in self.pships:
            for occurrence in occurrences(self.schedules[p.id], start, end):
                if occurrence.starts_at > p.created_at:
                    found.append((p, occurrence))
        return found

    def instants(self) -> dict[str, dict[str, Any]]:
        """'typical' (~1/12 start in the next 2 h) and 'peak' (the busiest 2 h).

        Candidates are 8 minutes before the hour and the half hour (hh:22:07,
        hh:52:07), when the rooms of the next batch of starts open and most
        reminders fall due; each is a 1-in-48 sample of the day.
        """
        midnight = datetime.combine(self.day, datetime.min.time(), tzinfo=UTC)
        starts = sorted(
            o.starts_at
            for _, o in self.starts_between(midnight, midnight + timedelta(hours=27))
        )
        target = len(self.pships) / 12
        counts = []
        for minute in range(22, 24 * 60, 30):
            at = midnight + timedelta(minutes=minute, seconds=7)
            ahead = bisect.bisect_left(starts, at + timedelta(hours=2))
            counts.append((ahead - bisect.bisect_left(starts, at), at))
        peak = max(counts, key=lambda c: (c[0], -c[1].timestamp()))
        typical = min(counts, key=lambda c: (abs(c[0] - target), c[1]))
        return {
            name: {"at": at, "starts_next_2h": n}
            for name, (n, at) in (("typical", typical), ("peak", peak))
        }


TABLES = (
    "teach_sessions",
    "session_participants",
    "notifications",
    "turns",
    "ratings",
    "signals",
    "live_sockets",
)


def empty_rows() -> dict[str, list[dict[str, Any]]]:
    """Rows to insert, per table, in foreign-key order."""
    return {table: [] for table in TABLES}


def _participants_and_notes(
    world: World,
    session: dict[str, Any],
    rng: random.Random,
    out: dict[str, list[dict[str, Any]]],
    *,
    joined: tuple[bool, bool],
    reminded: bool,
    opened: bool,
) -> dict[int, str | None]:
    """Participant rows of a session and the notifications they were sent.

    Returns each member's planned topic (the topic of the turns they teach).
    """
    sid, starts = session["id"], session["starts_at"]
    topics = {}
    for came, uid in zip(
        joined, (session["first_teacher_id"], session["second_teacher_id"]), strict=True
    ):
        lead = world.reminder[uid]
        sent = starts - timedelta(minutes=lead) if reminded and lead else None
        topics[uid] = rng.choice(TOPICS) if rng.random() < 0.4 else None
        out["session_participants"].append(
            {
                "session_id": sid,
                "user_id": uid,
                "planned_topic": topics[uid],
                "joined_at": (
                    starts - timedelta(seconds=rng.randrange(0, 300)) if came else None
                ),
                "absent": not came and session["status"] == "missed",
                "reminder_sent_at": sent,
            }
        )
        if came and session["status"] in ("open", "live"):
            # Whoever is in a live room has a socket in it (presence).
            out["live_sockets"].append(
                {
                    "sid": f"bench-{sid}-{uid}",
                    "user_id": uid,
                    "instance": "bench",
                    "session_id": sid,
                    "auth_version": 1,
                    "connected_at": starts - timedelta(minutes=5),
                }
            )
        if sent:
            out["notifications"].append(
                {
                    "user_id": uid,
                    "kind": "reminder",
                    "text": "Your teach-back hour with your partner starts at 19:00. "
                    "You teach first. Pick the topic you will teach.",
                    "url": f"/sessions/{sid}",
                    "dedupe_key": f"reminder:{sid}:{uid}",
                    "created_at": sent,
                    "read_at": sent + timedelta(minutes=5) if came else None,
                    "email_state": "none",
                }
            )
        if opened:
            at = starts - GRACE
            out["notifications"].append(
                {
                    "user_id": uid,
                    "kind": "session_open",
                    "text": "Your teach-back room is open: the hour starts soon.",
                    "url": f"/sessions/{sid}",
                    "dedupe_key": f"open:{sid}:{uid}",
                    "created_at": at,
                    "read_at": at + timedelta(minutes=5) if came else None,
                    "email_state": "none",
                }
            )
    return topics


def _room_rows(
    session: dict[str, Any],
    topics: dict[int, str | None],
    rng: random.Random,
    out: dict[str, list[dict[str, Any]]],
    turn_ids: Iterator[int],
    *,
    signals: bool,
) -> None:
    """The turns a started session has, as the room would have written them.

    Every phase ran to its deadline from the start (teaching began at starts_at
    or, for extra sessions, at started_at): turns before the current one are
    over and rated (90 %), the current one is being taught or rated. With
    `signals`, 0-4 listener signals per started turn.
    """
    if session["started_at"] is None:
        return
    teach = timedelta(seconds=session["teach_seconds"])
    rate = timedelta(seconds=session["rate_seconds"])
    pair = (session["first_teacher_id"], session["second_teacher_id"])
    done = session["status"] == "completed"
    last = session["turns"] - 1 if done else session["current_turn"]
    for index in range(last + 1):
        begun = session["started_at"] + index * (teach + rate)
        over = done or index < session["current_turn"]
        rating = over or session["phase"] == "rating"
        teacher, listener = pair[index % 2], pair[1 - index % 2]
        turn_id = next(turn_ids)
        out["turns"].append(
            {
                "id": turn_id,
                "session_id": session["id"],
                "index": index,
                "teacher_id": teacher,
                "listener_id": listener,
                "topic": topics.get(teacher),
                "started_at": begun,
                "teach_ends_at": begun + teach,
                "rating_ends_at": begun + teach + rate if rating else None,
                "ended_at": begun + teach + rate if over else None,
                "summary": None,
                "summary_at": None,
                "self_simplicity": None,
                "self_rated_at": None,
            }
        )
        if over and rng.random() < 0.9:
            out["ratings"].append(
                {
                    "turn_id": turn_id,
                    "session_id": session["id"],
                    "rater_id": listener,
                    "teacher_id": teacher,
                    "simplicity": rng.choices((1, 2, 3, 4, 5), (5, 10, 25, 35, 25))[0],
                    "note": "",
                    "jargon": [],
                    "created_at": begun + teach + rate / 2,
                }
            )
        for _ in range(rng.randrange(5) if signals else 0):
            offset = rng.uniform(0, teach.total_seconds())
            out["signals"].append(
                {
                    "session_id": session["id"],
                    "turn_id": turn_id,
                    "user_id": listener,
                    "kind": rng.choice(("jargon", "lost", "slower", "clear")),
                    "word": None,
                    "at": begun + timedelta(seconds=offset),
                    "offset_ms": int(offset * 1000),
                }
            )


def _room(session: dict[str, Any]):
    return rules.Room(
        status="open",
        phase="waiting",
        turn=0,
        turns=session["turns"],
        teach_seconds=session["teach_seconds"],
        rate_seconds=session["rate_seconds"],
        starts_at=session["starts_at"],
    )


def scheduled_rows(
    world: World,
    found: list,
    first_id: int,
    turn_ids: Iterator[int],
    now: datetime,
    out: dict[str, list[dict[str, Any]]],
) -> None:
    """Stored sessions as the jobs and the room would have left them by `now`.

    Started more than an hour ago: over (completed 80 %, missed 14 %, cancelled
    6 %). Started within the hour: live (both came at the start; the phases are
    replayed up to `now` with the domain rules) or still waiting for someone.
    """
    for offset, (p, occurrence) in enumerate(found):
        # Each meeting draws its own fate: the same whatever else is rebuilt.
        rng = random.Random(f"{world.seed}:{p.id}:{occurrence.local_date}")
        row = _session_row(p, occurrence)
        row["id"] = first_id + offset
        row["created_at"] = occurrence.starts_at - timedelta(hours=2)
        row.update(phase_ends_at=None, started_at=None, ended_at=None)
        starts = row["starts_at"]
        recent = starts >= now - timedelta(hours=1)
        if not recent:
            status = rng.choices(("completed", "missed", "cancelled"), (80, 14, 6))[0]
            row.update(status=status, phase="done", version=3)
            if status == "completed":
                row.update(
                    current_turn=row["turns"],
                    started_at=starts,
                    ended_at=row["ends_at"],
                )
                joined = (True, True)
            elif status == "missed":
                row["ended_at"] = starts + GRACE
                joined = rng.choice(((True, False), (False, True), (False, False)))
            else:
                row["ended_at"] = starts - timedelta(minutes=30)
                joined = (False, False)
        elif rng.random() < (0.85 if starts <= now - GRACE else 0.7):
            room, _ = rules.both_present(_room(row), starts)
            room, steps = rules.advance(room, now)
            row.update(
                status=room.status,
                phase=room.phase,
                current_turn=room.turn,
                phase_ends_at=room.phase_ends_at,
                started_at=starts,
                ended_at=steps[-1].at if room.status == "completed" else None,
                version=2 + len(steps),
            )
            joined = (True, True)
        else:  # the room is open, someone is missing
            row.update(status="open", version=1)
            joined = rng.choice(((True, False), (False, True), (False, False)))
        out["teach_sessions"].append(row)
        topics = _participants_and_notes(
            world,
            row,
            rng,
            out,
            joined=joined,
            reminded=row["status"] != "cancelled",
            opened=row["status"] != "cancelled",
        )
        _room_rows(row, topics, rng, out, turn_ids, signals=recent)


def live_due_rows(
    world: World,
    count: int,
    busy: set[int],
    first_id: int,
    turn_ids: Iterator[int],
    now: datetime,
    rng: random.Random,
    out: dict[str, list[dict[str, Any]]],
) -> None:
    """`count` live extra sessions whose phase deadline passed in the last 30 s."""
    free = [p for p in world.pships if p.id not in busy]
    for offset, p in enumerate(rng.sample(free, min(count, len(free)))):
        teach, rate = turn_lengths(p.session_minutes, p.turns)
        turn = rng.randrange(p.turns)
        phase = rng.choice(("teaching", "rating"))
        # The deadline that passed, counted from the start of the session.
        elapsed = turn * (teach + rate) + teach + (rate if phase == "rating" else 0)
        deadline = now - timedelta(seconds=rng.uniform(0, STALL_SECONDS))
        starts = deadline - timedelta(seconds=elapsed)
        first, second = rng.sample((p.user_a_id, p.user_b_id), 2)
        row = {
            "id": first_id + offset,
            "partnership_id": p.id,
            "scheduled_date": None,
            "local_date": local_date(starts, p.timezone),
            "kind": "extra",
            "starts_at": starts,
            "ends_at": starts + timedelta(seconds=p.turns * (teach + rate)),
            "status": "live",
            "phase": phase,
            "current_turn": turn,
            "phase_ends_at": deadline,
            "turns": p.turns,
            "teach_seconds": teach,
            "rate_seconds": rate,
            "first_teacher_id": first,
            "second_teacher_id": second,
            "started_at": starts,
            "ended_at": None,
            "version": 2 + 2 * turn + (phase == "rating"),
            "created_at": starts,
        }
        out["teach_sessions"].append(row)
        topics = _participants_and_notes(
            world, row, rng, out, joined=(True, True), reminded=False, opened=False
        )
        _room_rows(row, topics, rng, out, turn_ids, signals=True)
        out["notifications"].append(
            {
                "user_id": second,
                "kind": "session_open",
                "text": "Your partner started an extra session: join now.",
                "url": f"/sessions/{row['id']}",
                "dedupe_key": f"extra:{row['id']}:{second}",
                "created_at": starts,
                "read_at": starts,
                "email_state": "none",
            }
        )


# --- the database --------------------------------------------------------------


def _bench_app(url: str):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "RATELIMIT_ENABLED": False,
        }
    )


def _insert_rows(rows: dict[str, list[dict[str, Any]]]) -> None:
    for table, items in rows.items():
        _insert(db.metadata.tables[table], items)


def _fix_sequences(tables: tuple[str, ...]) -> None:
    """PostgreSQL: explicit ids were inserted; move each sequence past them."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in tables:
        db.session.execute(
            db.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        )


def seed_world(app, world: World, instants: dict[str, dict[str, Any]]) -> dict:
    """Users, profiles, partnerships and the past sessions (before both instants)."""
    started = time.perf_counter()
    upgrade_database(app)
    earliest = min(i["at"] for i in instants.values())
    world.history_end = earliest - timedelta(hours=1)
    found = world.starts_between(
        earliest - timedelta(days=HISTORY_DAYS), world.history_end
    )
    past = empty_rows()
    turn_ids = itertools.count(1)
    scheduled_rows(world, found, 1, turn_ids, earliest, past)
    with app.app_context():
        _insert(User.__table__, world.users)
        _insert(Profile.__table__, world.profiles)
        _insert(Partnership.__table__, world.partnerships)
        _insert_rows(past)
        _fix_sequences(("users", "partnerships", "teach_sessions", "turns"))
        db.session.commit()
        world.history_sessions = len(past["teach_sessions"])
        world.history_turns = len(past["turns"])
        world.history_notifications = db.session.scalar(
            select(func.max(Notification.id))
        )
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        db.session.remove()
    return {
        "users": len(world.users),
        "active_partnerships": len(world.partnerships),
        **{f"past_{table}": len(rows) for table, rows in past.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def reset_state(app, world: World, now: datetime, live_due: int) -> dict[str, int]:
    """Rebuild the state at `now`: drop everything newer than the seed, re-insert."""
    found = world.starts_between(world.history_end, now)
    first = world.history_sessions + 1
    turn_ids = itertools.count(world.history_turns + 1)
    rows = empty_rows()
    scheduled_rows(world, found, first, turn_ids, now, rows)
    sessions = list(rows["teach_sessions"])
    busy = {s["partnership_id"] for s in sessions if s["status"] in ("open", "live")}
    rng = random.Random(f"{world.seed}:{now.isoformat()}")
    live_due_rows(
        world, live_due, busy, first + len(sessions), turn_ids, now, rng, rows
    )
    s_hist = world.history_sessions
    with app.app_context():
        db.session.execute(
            Notification.__table__.delete().where(
                Notification.id > world.history_notifications
            )
        )
        db.session.execute(LiveSocket.__table__.delete())
        for model in (Signal, Rating, Turn, SessionParticipant):
            db.session.execute(
                model.__table__.delete().where(model.session_id > s_hist)
            )
        db.session.execute(
            TeachSession.__table__.delete().where(TeachSession.id > s_hist)
        )
        db.session.execute(JobRun.__table__.delete())  # the first run since a start
        _insert_rows(rows)
        _fix_sequences(("teach_sessions", "turns"))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # Autovacuum would have analysed a production database long ago.
            db.session.execute(db.text(f"ANALYZE {', '.join(TABLES)}"))
            db.session.commit()
        db.session.remove()
    # A process that just started: no instants localised yet (the world's own
    # computations above warmed this cache).
    localize.cache_clear()
    last_hour = [s for s in sessions if s["starts_at"] >= now - timedelta(hours=1)]
    return {
        "sessions_last_hour": len(last_hour),
        "live_last_hour": sum(s["status"] == "live" for s in last_hour),
        "waiting_past_grace": sum(
            s["status"] == "open" and s["starts_at"] <= now - GRACE for s in last_hour
        ),
        "live_deadline_passed": len(rows["teach_sessions"]) - len(sessions),
        "live_sockets": len(rows["live_sockets"]),
    }


# --- measuring -----------------------------------------------------------------


def _status_kib() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {
        k: int(re.search(rf"^{k}:\s+(\d+)", text, re.M)[1]) for k in ("VmRSS", "VmHWM")
    }


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _shape(statement: str) -> str:
    """A statement's verb and first table, e.g. 'INSERT notifications'."""
    words = " ".join(statement.split())
    verb = words.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:INTO|FROM|UPDATE)\s+\"?(\w+)", words, re.I)
    return f"{verb} {table[1]}" if table else words[:40]


def run_pass(app, job: str, now: datetime, statements: list[str]) -> dict[str, Any]:
    """One ally.jobs.run_job call: wall and CPU time, statements, rows it made."""

    def count(model) -> int:
        return db.session.scalar(select(func.count()).select_from(model))

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    with app.app_context():
        notes, sessions = count(Notification), count(TeachSession)
        db.session.commit()
        statements.clear()
        rss = _status_kib()["VmRSS"]
        peak_reset = _reset_peak_rss()
        event.listen(db.engine, "before_cursor_execute", record)
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            result = run_job(job, now)
        finally:
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            event.remove(db.engine, "before_cursor_execute", record)
        after = _status_kib()
        out = {
            "result": result,
            "wall_ms": round(wall * 1000, 1),
            "cpu_ms": round(cpu * 1000, 1),
            "statements": len(statements),
            "new_sessions": count(TeachSession) - sessions,
            "new_notifications": count(Notification) - notes,
            "rss_kib_before": rss,
            "rss_kib_after": after["VmRSS"],
            "peak_rss_growth_kib": after["VmHWM"] - rss if peak_reset else None,
        }
        db.session.remove()
    return out


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95/max of wall time, p50 CPU, and the (constant) work and statements."""
    walls = sorted(r["wall_ms"] for r in runs)
    cpus = sorted(r["cpu_ms"] for r in runs)

    def spread(key: str) -> str:
        values = {r[key] for r in runs}
        return str(min(values)) if len(values) == 1 else f"{min(values)}–{max(values)}"

    return {
        "runs": len(runs),
        "p50_ms": round(percentile(walls, 50), 1),
        "p95_ms": round(percentile(walls, 95), 1),
        "max_ms": round(walls[-1], 1),
        "first_ms": runs[0]["wall_ms"],
        "cpu_p50_ms": round(percentile(cpus, 50), 1),
        "result": spread("result"),
        "new_sessions": spread("new_sessions"),
        "new_notifications": spread("new_notifications"),
        "statements": spread("statements"),
    }


def bench_instant(
    app, world: World, name: str, instant: dict[str, Any], args
) -> dict[str, Any]:
    """--repeat runs of every pass, each run on a freshly rebuilt state."""
    at = instant["at"]
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in PASSES}
    shapes: dict[str, Counter] = {}
    state: dict[str, int] = {}
    for i in range(args.repeat):
        print(f"  [{name}] run {i + 1}/{args.repeat}", file=sys.stderr, flush=True)
        state = reset_state(app, world, at, args.live_due)
        for label, job, offset in PASSES:
            statements: list[str] = []
            runs[label].append(run_pass(app, job, at + offset, statements))
            shapes[label] = Counter(_shape(s) for s in statements)
    return {
        "at": at.isoformat(),
        "starts_next_2h": instant["starts_next_2h"],
        "state": state,
        "passes": {
            label: {
                **summarize_runs(runs[label]),
                "statement_shapes": dict(shapes[label].most_common(12)),
                "each_run": runs[label],
            }
            for label, _, _ in PASSES
        },
    }


def python_heap(app, world: World, instant: dict[str, Any], live_due: int) -> dict:
    """tracemalloc peak per pass (Python allocations only), on a rebuilt state."""
    reset_state(app, world, instant["at"], live_due)
    peaks = {}
    tracemalloc.start()
    try:
        for label, job, offset in PASSES:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            run_pass(app, job, instant["at"] + offset, [])
            peaks[label] = round((tracemalloc.get_traced_memory()[1] - base) / 2**20, 1)
    finally:
        tracemalloc.stop()
    return peaks


def profile_passes(
    app, world: World, instant: dict[str, Any], live_due: int, backend: str
) -> dict[str, str]:
    """pyinstrument text reports of the catch-up passes (if pyinstrument is there)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("--profile: pyinstrument is not installed", file=sys.stderr)
        return {}
    reset_state(app, world, instant["at"], live_due)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = {}
    for label, job, offset in PASSES[:4]:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        run_pass(app, job, instant["at"] + offset, [])
        profiler.stop()
        path = RESULTS / f"jobs-profile-{backend}-{job}-{stamp}.txt"
        path.write_text(profiler.output_text(unicode=True, show_all=False))
        paths[label] = str(path.relative_to(ROOT))
    return paths


# --- the scheduler process -----------------------------------------------------


def memory_child(url: str, at: str, seconds: float) -> None:
    """Run the real scheduler for `seconds`; print RSS and job runs as JSON.

    Jobs get `at` plus the time elapsed since the start as their `now` (the
    state was rebuilt for `at`); APScheduler's own timing uses the real clock.
    """
    samples = {"imports_done": _status_kib()["VmRSS"]}

    app = _bench_app(url)
    samples["app_created"] = _status_kib()["VmRSS"]
    start_at = datetime.fromisoformat(at)
    real_start = datetime.now(UTC)
    runs: list[dict[str, Any]] = []
    problems: Counter = Counter()
    real_run_job = scheduler_module.run_job

    def timed_run_job(name: str, now: datetime) -> int:
        started = time.perf_counter()
        try:
            return real_run_job(name, now)
        finally:
            runs.append(
                {
                    "job": name,
                    "at_s": round(started - began, 2),
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "rss_kib": _status_kib()["VmRSS"],
                }
            )

    def listen(job_event) -> None:
        kind = "error" if job_event.code == EVENT_JOB_ERROR else "skipped"
        problems[f"{job_event.job_id} {kind}"] += 1

    # run_scheduled calls these module globals: the job's clock and a timer.
    scheduler_module.utcnow = lambda: start_at + (datetime.now(UTC) - real_start)
    scheduler_module.run_job = timed_run_job
    scheduler = scheduler_module.build_scheduler(app)
    scheduler.add_listener(listen, EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    began = time.perf_counter()
    scheduler.start()
    samples["scheduler_started"] = _status_kib()["VmRSS"]
    timeline = []
    while (elapsed := time.perf_counter() - began) < seconds:
        timeline.append((round(elapsed, 2), _status_kib()["VmRSS"]))
        time.sleep(0.25)
    scheduler.shutdown(wait=True)
    status = _status_kib()
    samples["after_shutdown"] = status["VmRSS"]
    print(
        json.dumps(
            {
                "rss_kib": samples,
                "peak_rss_kib": status["VmHWM"],
                "max_sampled_rss_kib": max(r for _, r in timeline),
                "seconds": seconds,
                "job_runs": runs,
                "errors_and_skipped_runs": dict(problems),
                "rss_timeline": timeline,
            }
        )
    )


def bench_scheduler_memory(
    url: str, app, world: World, instant: dict[str, Any], args
) -> dict[str, Any]:
    """The real scheduler, in its own process, over the state at the instant."""
    state = reset_state(app, world, instant["at"], args.live_due)
    with app.app_context():
        db.engine.dispose()  # the child must find the SQLite file idle
    log = RESULTS / f"jobs-scheduler-{os.getpid()}.log"
    with log.open("w") as err:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.bench_jobs",
                "--memory-child",
                url,
                "--child-at",
                instant["at"].isoformat(),
                "--memory-seconds",
                str(args.memory_seconds),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=args.memory_seconds + 120,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"scheduler child failed; see {log}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["log_tail"] = log.read_text().splitlines()[-20:]
    log.unlink()
    at = instant["at"]
    with app.app_context():
        count = db.session.scalar
        result["work_done"] = {
            "sessions_created_next_2h": count(
                select(func.count())
                .select_from(TeachSession)
                .where(
                    TeachSession.starts_at >= at,
                    TeachSession.starts_at < at + timedelta(hours=2),
                )
            ),
            "reminders_sent": count(
                select(func.count())
                .select_from(SessionParticipant)
                .where(SessionParticipant.reminder_sent_at >= at)
            ),
            "notifications": count(
                select(func.count())
                .select_from(Notification)
                .where(Notification.created_at >= at)
            ),
            "live_deadlines_still_passed": count(
                select(func.count())
                .select_from(TeachSession)
                .where(
                    TeachSession.phase_ends_at <= at,
                    TeachSession.status.in_(("open", "live")),
                )
            ),
            "missed": count(
                select(func.count())
                .select_from(TeachSession)
                .where(
                    TeachSession.status == "missed",
                    TeachSession.id > world.history_sessions,
                )
            ),
        }
        db.session.remove()
    result["state"] = state
    return result


# --- driver ----------------------------------------------------------------------


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Seed one fresh database, time every pass at both instants, then memory."""
    database = (
        sqlite_database(args.partnerships)
        if backend == "sqlite"
        else postgres_database(args.postgres_url)
    )
    world = World(args.partnerships, args.seed)
    instants = world.instants()
    instants = {k: v for k, v in instants.items() if k in args.instants}
    result: dict[str, Any] = {"backend": backend, "instants": {}}
    with database as url:
        print(f"[{backend}] seeding ...", file=sys.stderr, flush=True)
        app = _bench_app(url)
        result["seed"] = seed_world(app, world, instants)
        for name, instant in instants.items():
            result["instants"][name] = bench_instant(app, world, name, instant, args)
        heaviest = instants.get("peak") or next(iter(instants.values()))
        print(f"[{backend}] tracemalloc pass ...", file=sys.stderr, flush=True)
        result["python_heap_peak_mib"] = python_heap(
            app, world, heaviest, args.live_due
        )
        if args.profile:
            result["profiles"] = profile_passes(
                app, world, heaviest, args.live_due, backend
            )
        if args.memory_seconds > 0:
            print(f"[{backend}] scheduler process ...", file=sys.stderr, flush=True)
            result["scheduler_process"] = bench_scheduler_memory(
                url, app, world, heaviest, args
            )
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return result


def extra_machine(backends: list[str], postgres_url: str) -> dict[str, Any]:
    """What else decides commit costs: the temp directory's file system, PG settings."""
    info: dict[str, Any] = {}
    try:
        info["tmp_filesystem"] = subprocess.run(
            ["stat", "-f", "-c", "%T", tempfile.gettempdir()],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        pass
    try:
        # The numbers belong to the code they ran: say if ally/ differs from HEAD.
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "ally"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.splitlines()
        info["ally_changes_vs_head"] = [line.strip() for line in changed]
    except OSError:
        pass
    if "postgres" in backends:
        try:
            import psycopg

            with psycopg.connect(_libpq(postgres_url)) as conn:
                for name in ("synchronous_commit", "fsync", "shared_buffers"):
                    info[f"postgresql_{name}"] = conn.execute(
                        f"SHOW {name}"
                    ).fetchone()[0]
        except Exception as exc:  # reported, not fatal
            info["postgresql_settings"] = f"unavailable: {exc}"
    return info


def _mib(kib: int | None) -> str:
    return "" if kib is None else f"{kib / 1024:.0f}"


def markdown(results: list[dict[str, Any]]) -> str:
    """The tables for docs/performance.md."""
    lines = [
        "| Backend | Instant | Pass | Job result | New sessions | New notifications "
        "| SQL statements | p50 ms | p95 ms | max ms | CPU p50 ms |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        for name, inst in res["instants"].items():
            for label, s in inst["passes"].items():
                bold = "**" if "next tick" not in label else ""
                lines.append(
                    f"| {res['backend']} | {name} | {label} | {s['result']} "
                    f"| {s['new_sessions']} | {s['new_notifications']} "
                    f"| {s['statements']} | {bold}{s['p50_ms']}{bold} "
                    f"| {bold}{s['p95_ms']}{bold} | {s['max_ms']} | {s['cpu_p50_ms']} |"
                )
    lines += [
        "",
        "| Backend | Instant (UTC) | Starts in next 2 h | Sessions in the last hour "
        "(live) | Waiting past grace | Live, deadline passed | Sockets in rooms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        for name, inst in res["instants"].items():
            st = inst["state"]
            lines.append(
                f"| {res['backend']} | {name}: {inst['at'][:19]} "
                f"| {inst['starts_next_2h']} | {st['sessions_last_hour']} "
                f"({st['live_last_hour']}) | {st['waiting_past_grace']} "
                f"| {st['live_deadline_passed']} | {st['live_sockets']} |"
            )
    lines += [
        "",
        "| Backend | Pass | Python heap peak MiB (tracemalloc) |",
        "|---|---|---:|",
    ]
    for res in results:
        for label, mib in res["python_heap_peak_mib"].items():
            lines.append(f"| {res['backend']} | {label} | {mib} |")
    if any("scheduler_process" in r for r in results):
        lines += [
            "",
            "| Backend | RSS MiB: app created | scheduler started | max sampled "
            "| peak (VmHWM) | after shutdown | job runs (slowest ms) "
            "| errors / skipped runs |",
            "|---|---:|---:|---:|---:|---:|---|---|",
        ]
        for res in results:
            m = res.get("scheduler_process")
            if not m:
                continue
            r = m["rss_kib"]
            slowest: dict[str, list[float]] = {}
            for run in m["job_runs"]:
                slowest.setdefault(run["job"], []).append(run["ms"])
            jobs = ", ".join(
                f"{job} {len(ms)}× ({max(ms):.0f})" for job, ms in slowest.items()
            )
            problems = ", ".join(
                f"{k}: {v}" for k, v in m["errors_and_skipped_runs"].items()
            )
            lines.append(
                f"| {res['backend']} | {_mib(r['app_created'])} "
                f"| {_mib(r['scheduler_started'])} | {_mib(m['max_sampled_rss_kib'])} "
                f"| {_mib(m['peak_rss_kib'])} | {_mib(r['after_shutdown'])} "
                f"| {jobs} | {problems or 'none'} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_arguments(parser)
    parser.add_argument("--partnerships", type=int, default=DEFAULT_PARTNERSHIPS)
    parser.add_argument("--repeat", type=int, default=5, help="runs per pass")
    parser.add_argument(
        "--instants",
        type=lambda s: s.split(","),
        default=["typical", "peak"],
        help="comma separated, from typical,peak (the default: both)",
    )
    parser.add_argument(
        "--live-due",
        type=int,
        default=LIVE_DUE,
        help="live sessions whose deadline passed (advance_phases)",
    )
    parser.add_argument(
        "--memory-seconds",
        type=float,
        default=MEMORY_SECONDS,
        help="run the scheduler process this long (0: skip)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="pyinstrument reports of the catch-up passes (pip install pyinstrument)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--child-at", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.child_at, args.memory_seconds)
        return
    unknown = set(args.instants) - {"typical", "peak"}
    if unknown:
        parser.error(f"unknown instants: {', '.join(sorted(unknown))}")

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = [run_backend(b, args) for b in backends]
    info = machine(args.postgres_url if "postgres" in backends else None)
    info.update(extra_machine(backends, args.postgres_url))
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.bench_jobs", *sys.argv[1:]]),
        "machine": info,
        "loadavg_at_start": load_before,
        "settings": {k: v for k, v in vars(args).items() if k not in {"postgres_url"}},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    table = markdown(results)
    report["markdown"] = table
    write_report(report, f"jobs-{args.backend}", table)
    return report


QUICK_ARGV = ["--partnerships", "1000", "--repeat", "2", "--instants", "peak"]
QUICK_ARGV += ["--live-due", "100", "--memory-seconds", "0"]


def rows(full: bool) -> list:
    """Suite rows (bench/suite.py): one per job pass."""
    from bench.suite import Row

    report = main([] if full else QUICK_ARGV)
    found = []
    for res in report["results"]:
        for instant, inst in res["instants"].items():
            for label, s in inst["passes"].items():
                growth = s.get("peak_rss_growth_kib")
                found.append(
                    Row(
                        scenario=f"jobs: {label}",
                        size=f"{instant}, {res['backend']}",
                        p50_ms=s["p50_ms"],
                        p95_ms=s["p95_ms"],
                        server_cpu=f"{s['cpu_p50_ms']} ms CPU p50",
                        memory=f"+{growth / 1024:.0f} MiB RSS" if growth else "",
                        note=f"{s['statements']} SQL, result {s['result']}",
                    )
                )
    return found


if __name__ == "__main__":
    main()
