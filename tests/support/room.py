"""Builders for the room protocol tests (tests/room/): sockets, sessions, reads.

Ann and Ben are partners; Cara and Dan are partners too, so Cara is an outsider
with a session of her own. Extra sessions of 2 turns start now, Ann teaching
turn 0 and Ben turn 1. The handlers read the real clock, so phases are 600 s
long and move only through events (`finish_turn`, `rate` with `ready`), or
through a deadline put in the past and the `advance_phases` job.

Every socket call runs in an app context of its own (its own `g`, Flask-Login
cache and database session), as separate requests would. "Nothing written" is
checked against a dump of every table the room touches, not a single count.
Reads go through a fresh database session and never flush the signal queue:
an acknowledged signal is committed (DESIGN §6), so it must be there already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from ally.extensions import db, socketio
from ally.models import Rating, Signal, TeachSession, Turn, User, utcnow
from ally.services import schedule

LONG = 600  # seconds: long enough that no phase ends by itself during a test
EVENTS = (
    "join_session",
    "leave_session",
    "set_topic",
    "signal",
    "finish_turn",
    "rate",
    "summary",
    "self_rate",
    "ready",
    "predict",
    "sketch",
    "call",
)
CODES = (
    "not_found",
    "forbidden",
    "wrong_phase",
    "invalid",
    "already_rated",
    "rate_limited",
)
ROOM_TABLES = (
    "teach_sessions",
    "session_participants",
    "turns",
    "signals",
    "ratings",
    "notifications",
    "live_sockets",
)
SNAPSHOT_KEYS = {
    "session_id",
    "status",
    "phase",
    "turn",
    "server_time",
    "starts_at",
    "phase_ends_at",
    "participants",
    "turns",
    # Additive: who the pause waits for, and whose topic each may name now.
    "reflecting",
    "topic_turns",
}
TURN_KEYS = {
    "index",
    "teacher_id",
    "listener_id",
    "topic",
    "started_at",
    "teach_ends_at",
    "rating_ends_at",
    "ended_at",
    "simplicity",
    "summary",
    # Additive.
    "id",
    "rated",
    "teacher_ready",
    "reflection_ends_at",
}
STATUSES = ("scheduled", "open", "live", "completed", "missed", "cancelled")
PHASES = ("waiting", "teaching", "rating", "done")
MISSING_SESSION = 987_654
MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER: no row can have a larger id


class Sock:
    """One Socket.IO test client; every emit in an app context of its own."""

    def __init__(self, app: Flask, client: Any) -> None:
        self.app = app
        self.client = client

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    @property
    def sid(self) -> str:
        return socketio.server.manager.sid_from_eio_sid(self.client.eio_sid, "/")

    def emit(self, event: str, *args: Any) -> Any:
        """Send an event and return its acknowledgement."""
        with self.app.app_context():
            return self.client.emit(event, *args, callback=True)

    def take(self) -> list[tuple[str, Any]]:
        """Every event received since the last call, as (name, payload)."""
        return [
            (item["name"], item["args"][0] if item["args"] else None)
            for item in self.client.get_received()
        ]

    def disconnect(self) -> None:
        with self.app.app_context():
            self.client.disconnect()


def named(events: list[tuple[str, Any]], name: str) -> list[Any]:
    return [payload for event, payload in events if event == name]


@dataclass
class World:
    ann: int
    ben: int
    cara: int
    dan: int
    pair: int  # Ann and Ben's partnership
    other_pair: int  # Cara and Dan's


def new_session(
    world: World,
    *,
    starts_in: float = 0,
    teacher: str = "ann",
    turns: int = 2,
    teach: int = LONG,
    rate: int = LONG,
) -> int:
    """An extra session (first teacher `teacher`), starting `starts_in` s from now."""
    user_id = getattr(world, teacher)
    partnership = world.other_pair if teacher in ("cara", "dan") else world.pair
    session = schedule.create_extra_session(
        user_id,
        partnership,
        utcnow() + timedelta(seconds=starts_in),
        turns=turns,
        teach_seconds=teach,
        rate_seconds=rate,
    )
    return session.id


# --- reading and writing rows directly -----------------------------------------


def dump(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table the room writes, read through a fresh session."""
    with app.app_context():
        tables = db.metadata.tables
        found = {
            name: sorted(
                (tuple(row) for row in db.session.execute(select(tables[name]))),
                key=repr,
            )
            for name in ROOM_TABLES
        }
        db.session.remove()
        return found


def load(app: Flask, model: type, key: Any) -> Any:
    """One row, freshly read (detached copy of its column values)."""
    with app.app_context():
        row = db.session.get(model, key)
        found = None if row is None else SimpleNamespace(**_columns(row))
        db.session.remove()
        return found


def rows(app: Flask, model: type, *where: Any) -> list[SimpleNamespace]:
    """Rows of a model, freshly read (detached copies of their column values)."""
    with app.app_context():
        found = db.session.scalars(select(model).where(*where)).all()
        copies = [SimpleNamespace(**_columns(row)) for row in found]
        db.session.remove()
        return copies


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def turn_row(app: Flask, session_id: int, index: int) -> SimpleNamespace | None:
    found = rows(app, Turn, Turn.session_id == session_id, Turn.index == index)
    return found[0] if found else None


def stored_signals(app: Flask, session_id: int) -> list[tuple]:
    """(kind, word) of the signal rows committed so far, in order."""
    with app.app_context():
        found = db.session.execute(
            select(Signal.kind, Signal.word)
            .where(Signal.session_id == session_id)
            .order_by(Signal.id)
        ).all()
        db.session.remove()
        return [tuple(row) for row in found]


def change(app: Flask, model: type, key: Any, **values: Any) -> None:
    """Write columns of one row directly (a test's way to move the clock)."""
    with app.app_context():
        db.session.execute(
            update(model)
            .where(model.__table__.primary_key.columns.values()[0] == key)
            .values(**values)
        )
        db.session.commit()
        db.session.remove()


def pass_deadline(app: Flask, session_id: int) -> datetime:
    """Put the session's phase deadline a second in the past; returns it."""
    deadline = utcnow() - timedelta(seconds=1)
    change(app, TeachSession, session_id, phase_ends_at=deadline)
    return deadline


# --- acks --------------------------------------------------------------------


def ok(ack: Any) -> dict:
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    return ack


def is_refusal(ack: Any, code: str) -> bool:
    return (
        isinstance(ack, dict)
        and set(ack) == {"ok", "error", "message"}
        and ack["ok"] is False
        and ack["error"] == code
        and isinstance(ack["message"], str)
        and bool(ack["message"].strip())
    )


def assert_refused(
    app: Flask,
    sock: Sock,
    event: str,
    args: tuple,
    code: str,
    watchers: tuple[Sock, ...] = (),
) -> dict:
    """The event is refused with `code`, writes nothing and pushes nothing."""
    for other in (sock, *watchers):
        other.take()
    before = dump(app)
    ack = sock.emit(event, *args)
    assert is_refusal(ack, code), (event, args, ack)
    assert dump(app) == before, f"{event} {args!r} wrote something"
    for other in (sock, *watchers):
        assert other.take() == [], f"{event} {args!r} pushed an event"
    assert sock.connected
    return ack


def utc(text: Any) -> datetime:
    """An ISO 8601 time with a zero UTC offset."""
    assert isinstance(text, str), text
    value = datetime.fromisoformat(text)
    assert value.utcoffset() == timedelta(0), text
    return value


# --- payloads ------------------------------------------------------------------


class _Missing:
    """A field left out of the payload."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def with_fields(base: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    return {k: v for k, v in merged.items() if v is not MISSING}


def valid(event: str, session_id: int, turn: int = 0) -> dict[str, Any]:
    """A well-formed payload for each client event."""
    return {
        "join_session": {"session_id": session_id},
        "leave_session": {"session_id": session_id},
        "set_topic": {"session_id": session_id, "title": "Renin–angiotensin system"},
        "signal": {"session_id": session_id, "kind": "jargon", "word": "macula densa"},
        "finish_turn": {"session_id": session_id},
        "rate": {
            "session_id": session_id,
            "turn": turn,
            "simplicity": 4,
            "note": "Lost me at the kidney.",
            "jargon": ["renin"],
        },
        "summary": {
            "session_id": session_id,
            "turn": turn,
            "text": "When blood pressure drops, the kidney releases renin.",
        },
        "self_rate": {"session_id": session_id, "turn": turn, "simplicity": 3},
        "ready": {"session_id": session_id, "turn": turn},
        "predict": {"session_id": session_id, "turn": turn, "simplicity": 4},
        "sketch": {
            "session_id": session_id,
            "turn": turn,
            "strokes": [{"points": [[100, 100], [400, 520.5]], "color": "#b3261e"}],
        },
        "call": {
            "session_id": session_id,
            "kind": "media",
            "data": {"audio": True, "video": False},
        },
    }[event]


# --- moving a room --------------------------------------------------------------


def start_teaching(people: SimpleNamespace, session_id: int) -> None:
    """Both partners join: turn 0 (Ann teaching) starts now."""
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    state = ok(people.ben.emit("join_session", {"session_id": session_id}))["state"]
    assert (state["status"], state["phase"], state["turn"]) == ("live", "teaching", 0)
    people.ann.take(), people.ben.take()


def start_rating(people: SimpleNamespace, session_id: int) -> None:
    """Turn 0 taught: its rating pause."""
    start_teaching(people, session_id)
    state = ok(people.ann.emit("finish_turn", {"session_id": session_id}))["state"]
    assert (state["phase"], state["turn"]) == ("rating", 0)
    people.ann.take(), people.ben.take()


def end_pause(
    people: SimpleNamespace, session_id: int, turn: int, teacher: Any, listener: Any
) -> dict:
    """Both do their part of a turn's pause (rate, then ready); the last state."""
    ok(listener.emit("rate", valid("rate", session_id, turn=turn)))
    ack = ok(teacher.emit("ready", valid("ready", session_id, turn=turn)))
    people.ann.take(), people.ben.take()
    return ack["state"]


# --- the snapshot -----------------------------------------------------------------


def expected_topic_turns(session: Any, world: World) -> dict[str, int | None]:
    """Each partner's turn to name now: the one they teach now, else their next
    one not yet taught; none once the session is over."""
    over = session.status in ("completed", "missed", "cancelled")
    first_open = session.current_turn + (1 if session.phase == "rating" else 0)
    expected = {}
    for position, user in enumerate((world.ann, world.ben)):
        theirs = [t for t in range(first_open, session.turns) if t % 2 == position]
        done = over or session.phase == "done"
        expected[str(user)] = None if done or not theirs else theirs[0]
    return expected


def check_snapshot(app: Flask, state: dict, session_id: int, world: World) -> None:
    """Every key of DESIGN §6's snapshot (and the additive ones), each equal to
    what the database holds."""
    assert SNAPSHOT_KEYS <= set(state)
    session = load(app, TeachSession, session_id)
    assert state["session_id"] == session_id
    assert (state["status"], state["phase"], state["turn"]) == (
        session.status,
        session.phase,
        session.current_turn,
    )
    assert state["status"] in STATUSES
    assert state["phase"] in PHASES
    utc(state["server_time"])
    assert utc(state["starts_at"]) == session.starts_at
    if session.phase_ends_at is None:
        assert state["phase_ends_at"] is None
    else:
        assert utc(state["phase_ends_at"]) == session.phase_ends_at
    assert [p["user_id"] for p in state["participants"]] == [world.ann, world.ben]
    for person in state["participants"]:
        assert set(person) >= {"user_id", "display_name", "online"}
        assert person["display_name"] == load(app, User, person["user_id"]).display_name
        assert isinstance(person["online"], bool)
    assert [t["index"] for t in state["turns"]] == list(range(session.turns))
    ratings = {
        r.turn_id: r.simplicity
        for r in rows(app, Rating, Rating.session_id == session_id)
    }
    rate_for = timedelta(seconds=session.rate_seconds)
    for turn in state["turns"]:
        assert TURN_KEYS <= set(turn)
        index = turn["index"]
        teacher = (world.ann, world.ben)[index % 2]
        listener = (world.ben, world.ann)[index % 2]
        assert (turn["teacher_id"], turn["listener_id"]) == (teacher, listener)
        stored = turn_row(app, session_id, index)
        for key in ("started_at", "teach_ends_at", "rating_ends_at", "ended_at"):
            expected = getattr(stored, key) if stored else None
            if expected is None:
                assert turn[key] is None, (index, key)
            else:
                assert utc(turn[key]) == expected, (index, key)
        assert turn["id"] == (stored.id if stored else None)
        assert turn["topic"] == (stored.topic if stored else None)
        assert turn["summary"] == (stored.summary if stored else None)
        assert turn["simplicity"] == (ratings.get(stored.id) if stored else None)
        assert turn["rated"] is (stored is not None and stored.id in ratings)
        assert turn["teacher_ready"] is (
            stored is not None and stored.teacher_ready_at is not None
        )
        assert turn["predicted"] is (
            stored is not None and stored.predicted_simplicity is not None
        )
        assert turn["sketch_points"] == (stored.sketch_points if stored else 0)
        taught = stored is not None and stored.teach_ends_at is not None
        teaching_over = index < session.current_turn or session.phase != "teaching"
        if taught and teaching_over:
            assert utc(turn["reflection_ends_at"]) == stored.teach_ends_at + rate_for
        else:
            assert turn["reflection_ends_at"] is None, index
    # The pause waits for the teacher until ready, the listener until rated.
    waiting: list[int] = []
    if session.status == "live" and session.phase == "rating":
        current = state["turns"][session.current_turn]
        if not current["teacher_ready"]:
            waiting.append(current["teacher_id"])
        if not current["rated"]:
            waiting.append(current["listener_id"])
    assert sorted(state["reflecting"]) == sorted(waiting)
    assert state["topic_turns"] == expected_topic_turns(session, world)
