"""The signal hot path on both backends: one DB-API read, group-committed writes.

`signal_store` runs Core statements straight on a DB-API cursor (qmark on
SQLite, pyformat on psycopg) with the column types' own processors. Accepted
signals are written in batches, and a listener's ack waits for the commit of
the batch that holds its row (group commit): after an ok ack the row is
stored, with no flush by anyone. A row the database refuses fails only its own
sender. These tests drive it through real Socket.IO test clients on SQLite and
on PostgreSQL and read the rows back through the ORM.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, update

from ally.extensions import db, socketio
from ally.models import Signal, Sketch, TeachSession, Turn, User, utcnow
from ally.services import accounts, partners, profiles, schedule, tokens
from ally.services.room import signal_store
from tests.conftest import DEFAULT_WINDOWS, PASSWORD


def _student(email: str, name: str) -> int:
    user = accounts.register(email, PASSWORD, name, "Europe/London")
    profiles.update_profile(
        user.id,
        {
            "availability": DEFAULT_WINDOWS,
            "exam": "USMLE Step 1",
            "exam_date": None,
            "subjects": [],
            "looking_for_partner": True,
            "auto_match": False,
        },
    )
    return user.id


def _socket(app: Flask, user_id: int):
    _, raw = tokens.create_token(user_id, "socket")
    client = socketio.test_client(app, auth={"token": raw})
    assert client.is_connected()
    return client


def _teaching_room(app: Flask):
    """Ann and Ben in a live session, Ann teaching turn 0: (id, ann, ben)."""
    ann = _student("ann@example.com", "Ann")
    ben = _student("ben@example.com", "Ben")
    now = utcnow()
    request = partners.send_request(ann, ben, "", now)
    partnership = partners.accept_request(ben, request.id, now)
    session = schedule.create_extra_session(
        ann, partnership.id, now, turns=2, teach_seconds=600, rate_seconds=60
    )
    sockets = _socket(app, ann), _socket(app, ben)
    for client in sockets:
        ack = client.emit("join_session", {"session_id": session.id}, callback=True)
        assert ack["ok"], ack
    assert ack["state"]["phase"] == "teaching"
    return session.id, *sockets


def _signals(session_id: int) -> list[Signal]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Signal).where(Signal.session_id == session_id).order_by(Signal.id)
        )
    )


def test_a_signal_is_read_checked_and_stored_like_the_orm_would(any_app):
    session_id, ann, ben = _teaching_room(any_app)
    ack = ben.emit(
        "signal",
        {"session_id": session_id, "kind": "jargon", "word": "  macula   densa "},
        callback=True,
    )
    assert ack["ok"], ack
    sent = ack["signal"]
    assert (sent["turn"], sent["kind"], sent["word"]) == (0, "jargon", "macula densa")
    assert [e["args"][0] for e in ann.get_received() if e["name"] == "signal"] == [sent]

    # Acknowledged means committed: the row is there without a flush.
    [row] = _signals(session_id)
    turn = db.session.scalar(
        select(Turn).where(Turn.session_id == session_id, Turn.index == 0)
    )
    ben_id = db.session.scalar(select(User.id).where(User.email == "ben@example.com"))
    assert (row.turn_id, row.user_id, row.kind, row.word) == (
        turn.id,
        ben_id,
        "jargon",
        "macula densa",
    )
    # The instant went through UTCDateTime both ways: aware UTC, to the microsecond.
    assert row.at == datetime.fromisoformat(sent["at"])
    assert row.at.utcoffset() == timedelta(0)
    assert row.offset_ms == sent["offset_ms"]
    assert row.offset_ms == int((row.at - turn.started_at).total_seconds() * 1000)


def test_refusals_on_the_hot_path_queue_nothing(any_app):
    session_id, ann, ben = _teaching_room(any_app)
    lines = any_app.extensions.get("ally.signal_store")
    cases = [
        (ann, {"session_id": session_id, "kind": "lost"}, "forbidden"),  # teacher
        (ben, {"session_id": session_id, "kind": "boo"}, "invalid"),
        (ben, {"session_id": session_id, "kind": "lost", "word": "x" * 41}, "invalid"),
        (ben, {"session_id": 2**31 - 1, "kind": "lost"}, "not_found"),
        (ben, {"session_id": "1", "kind": "lost"}, "invalid"),
    ]
    for client, payload, code in cases:
        ack = client.emit("signal", payload, callback=True)
        assert (ack["ok"], ack["error"]) == (False, code), (payload, ack)
    assert lines is None or lines.pending.rows == []
    # The login ended (a password change elsewhere): refused, still connected.
    db.session.execute(update(User).values(auth_version=User.auth_version + 1))
    db.session.commit()
    ack = ben.emit("signal", {"session_id": session_id, "kind": "lost"}, callback=True)
    assert (ack["ok"], ack["error"]) == (False, "forbidden")
    assert ben.is_connected()
    signal_store.flush()  # were anything queued, this would write it
    assert _signals(session_id) == []


def test_a_passed_deadline_takes_the_full_path_which_applies_it(any_app):
    session_id, ann, ben = _teaching_room(any_app)
    # The clock job has not run yet: the deadline passed a moment ago.
    db.session.execute(
        update(TeachSession)
        .where(TeachSession.id == session_id)
        .values(phase_ends_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    ack = ben.emit("signal", {"session_id": session_id, "kind": "lost"}, callback=True)
    assert (ack["ok"], ack["error"]) == (False, "wrong_phase")
    db.session.expire_all()
    assert db.session.get(TeachSession, session_id).phase == "rating"
    signal_store.flush()
    assert _signals(session_id) == []


def test_a_row_the_database_refuses_never_takes_its_batch_with_it(any_app, caplog):
    session_id, ann, ben = _teaching_room(any_app)
    assert ben.emit(
        "signal", {"session_id": session_id, "kind": "lost"}, callback=True
    )["ok"]
    [first] = _signals(session_id)
    lines = any_app.extensions["ally.signal_store"]
    good = {
        "session_id": session_id,
        "turn_id": first.turn_id,
        "user_id": first.user_id,
        "kind": "slower",
        "word": None,
        "question": None,
        "at": utcnow(),
        "offset_ms": 5,
    }
    # One batch: a good row, one whose turn is gone (its session deleted
    # meanwhile), one whose word no backend can store (the checks refuse such
    # a word as invalid; it is queued here past them), and a good one again.
    tickets = [
        signal_store._queue(lines, signal_store._Row(row))
        for row in (
            good,
            {**good, "turn_id": 2**31 - 1},
            {**good, "word": "bad\x00word\ud800"},
            {**good, "kind": "clear"},
        )
    ]
    with caplog.at_level(logging.WARNING, logger="ally.services.room.signal_store"):
        signal_store.flush()
    batch = tickets[0][0]
    assert {id(b) for b, _ in tickets} == {id(batch)} and batch.done.is_set()
    assert batch.failed == {1: signal_store.REFUSED, 2: signal_store.REFUSED}
    assert [s.kind for s in _signals(session_id)] == ["lost", "slower", "clear"]
    assert "2 of 4 rows could not be stored" in caplog.text
    # Their senders hear it: an ack never says ok for a row that is not stored.
    for position in (1, 2):
        assert signal_store._await_commit(batch, position, lines) == "refused"
    assert signal_store._await_commit(batch, 3, lines) is None  # stored
    # Deleting the session removes its signals as before (the cascade).
    db.session.execute(delete(TeachSession).where(TeachSession.id == session_id))
    db.session.commit()
    assert _signals(session_id) == []


def test_a_sketch_shares_the_signal_batch_and_its_bound_holds_at_the_commit(any_app):
    session_id, ann, ben = _teaching_room(any_app)
    stroke = {"points": [[0, 0], [1000, 1000]], "width": 3}
    ack = ann.emit(
        "sketch",
        {"session_id": session_id, "turn": 0, "strokes": [stroke]},
        callback=True,
    )
    assert ack["ok"] and ack["points"] == 2, ack
    relayed = [e for e in ben.get_received() if e["name"] == "sketch"]
    assert relayed[0]["args"][0]["strokes"][0]["points"] == [[0, 0], [1000, 1000]]
    db.session.expire_all()
    turn = db.session.scalar(
        select(Turn).where(Turn.session_id == session_id, Turn.index == 0)
    )
    assert turn.sketch_points == 2
    # Another process counted points meanwhile: the turn is at 19,999 in the
    # database while this process believes 2. The batch's conditional UPDATE
    # refuses the row (nothing inserted); the signal in the same batch is stored.
    db.session.execute(
        update(Turn).where(Turn.id == turn.id).values(sketch_points=19_999)
    )
    db.session.commit()
    lines = any_app.extensions["ally.signal_store"]
    sketch_row = {
        "turn_id": turn.id,
        "session_id": session_id,
        "user_id": turn.teacher_id,
        "strokes": [stroke],
        "points": 2,
        "clear": False,
        "at": utcnow(),
    }
    signal_row = {
        "session_id": session_id,
        "turn_id": turn.id,
        "user_id": turn.teacher_id,
        "kind": "lost",
        "word": None,
        "question": None,
        "at": utcnow(),
        "offset_ms": 1,
    }
    queued = signal_store.queue_sketch(sketch_row, committed_points=2)
    assert lines.queued_points == {turn.id: 2}
    batch, position = signal_store._queue(lines, signal_store._Row(signal_row))
    assert batch is queued.batch
    signal_store.flush()
    with pytest.raises(signal_store.SketchFull):
        queued.wait()
    assert signal_store._await_commit(batch, position, lines) is None
    assert lines.queued_points == {}
    db.session.expire_all()
    assert db.session.get(Turn, turn.id).sketch_points == 19_999
    assert (
        db.session.scalar(
            select(func.count()).select_from(Sketch).where(Sketch.turn_id == turn.id)
        )
        == 1
    )
    assert [s.kind for s in _signals(session_id)] == ["lost"]
    # Within this process the bound is checked before anything is queued.
    with pytest.raises(signal_store.SketchFull):
        signal_store.queue_sketch({**sketch_row, "points": 3}, committed_points=19_999)
    assert lines.queued_points == {}
