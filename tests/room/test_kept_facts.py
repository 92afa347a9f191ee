"""Kept facts: a listener's signals read the room once while it stays the same.

The facts that let a signal through are kept a second per (socket, session)
in one process, and dropped the moment this process changes the room, the
socket closes or its login ends; with a message queue nothing is kept.
"""

from __future__ import annotations

import pytest

from ally.models import Signal
from ally.services import tokens
from ally.services.room import kept_facts as kept_module
from ally.services.room import signal_store
from ally.services.room import signals as room_signals
from tests.support.room import is_refusal, new_session, ok, rows, start_teaching


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sockets whose facts the signal path read from the database."""
    seen: list[str] = []

    def counting(sid: str, session_id: int):
        seen.append(sid)
        return signal_store.read_facts(sid, session_id)

    monkeypatch.setattr(room_signals, "read_facts", counting)
    return seen


def lost(session_id: int) -> dict:
    return {"session_id": session_id, "kind": "lost"}


def test_signals_read_the_room_once_while_it_stays_the_same(app, world, people, reads):
    session_id = new_session(world)
    start_teaching(people, session_id)
    for _ in range(3):
        ok(people.ben.emit("signal", lost(session_id)))
    assert len(reads) == 1
    assert len(rows(app, Signal, Signal.session_id == session_id)) == 3


def test_a_room_change_is_seen_by_the_next_signal_at_once(app, world, people, reads):
    session_id = new_session(world)
    start_teaching(people, session_id)
    ok(people.ben.emit("signal", lost(session_id)))
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    assert is_refusal(people.ben.emit("signal", lost(session_id)), "wrong_phase")
    assert len(reads) == 2
    assert len(rows(app, Signal, Signal.session_id == session_id)) == 1


def test_a_socket_whose_token_is_revoked_sends_nothing_more(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    ok(people.ben.emit("signal", lost(session_id)))
    with app.app_context():
        [token] = tokens.list_tokens(world.ben)
        tokens.revoke_token(world.ben, token.id)
    if people.ben.connected:
        assert is_refusal(people.ben.emit("signal", lost(session_id)), "forbidden")
    assert len(rows(app, Signal, Signal.session_id == session_id)) == 1


def test_an_ended_token_is_refused_even_before_its_socket_closes(
    app, world, people, monkeypatch
):
    # The close is held back, as if the socket were on another process.
    monkeypatch.setattr(tokens, "disconnect_socket", lambda sid: None)
    session_id = new_session(world)
    start_teaching(people, session_id)
    ok(people.ben.emit("signal", lost(session_id)))  # its facts are kept
    with app.app_context():
        [token] = tokens.list_tokens(world.ben)
        tokens.revoke_token(world.ben, token.id)
    assert people.ben.connected
    assert is_refusal(people.ben.emit("signal", lost(session_id)), "forbidden")
    assert len(rows(app, Signal, Signal.session_id == session_id)) == 1


def test_kept_facts_expire_and_a_read_across_a_change_is_not_kept():
    kept = kept_module.KeptFacts(1.0)
    now = [100.0]
    kept.clock = lambda: now[0]
    facts = object()
    kept.keep("s1", 7, facts, kept.changes)
    assert kept.get("s1", 7) is facts
    assert kept.get("s1", 8) is None
    now[0] += 1.0
    assert kept.get("s1", 7) is None
    # A read that began before a room changed is not kept.
    before = kept.changes
    kept.forget_sessions([9])
    kept.keep("s2", 7, facts, before)
    assert kept.get("s2", 7) is None
    # A socket's facts go when it closes; a room's when it changes.
    kept.keep("s2", 7, facts, kept.changes)
    kept.keep("s3", 8, facts, kept.changes)
    kept.forget_socket("s2")
    assert kept.get("s2", 7) is None and kept.get("s3", 8) is facts
    kept.forget_sessions([8])
    assert kept.get("s3", 8) is None and 8 not in kept.by_session


def test_nothing_is_kept_when_other_processes_move_rooms_too(app):
    with app.app_context():
        app.extensions.pop("ally.kept_facts", None)
        assert kept_module.kept_facts().seconds == kept_module.KEEP_SECONDS
        app.extensions.pop("ally.kept_facts")
        app.config["SOCKETIO_MESSAGE_QUEUE"] = "redis://127.0.0.1:6379/0"
        try:
            kept = kept_module.kept_facts()
            kept.keep("s1", 7, object(), kept.changes)
            assert kept.seconds == 0 and kept.get("s1", 7) is None
        finally:
            app.config["SOCKETIO_MESSAGE_QUEUE"] = None
            app.extensions.pop("ally.kept_facts")
