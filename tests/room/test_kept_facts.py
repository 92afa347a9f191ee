"""Kept facts: a listener's signals read the room once while it stays the same.

The facts that let a signal through are kept two seconds per (socket,
session) in one process, and dropped the moment the room changes, the socket
closes or its login ends. With Redis as the queue, another process's room
change is heard from the queue; while the queue is not heard nothing is kept.
"""

from __future__ import annotations

import pytest
from socketio.pubsub_manager import PubSubManager

from ally.models import Signal
from ally.realtime.queue import RoomChangeQueue
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


def test_an_app_that_does_not_hear_the_queue_keeps_nothing(app):
    # A scheduler or a CLI command: its app has a queue but no ear on it.
    with app.app_context():
        app.extensions.pop("ally.kept_facts", None)
        assert kept_module.kept_facts().seconds == app.config["ALLY_KEPT_FACTS_SECONDS"]
        app.extensions.pop("ally.kept_facts")
        app.config["SOCKETIO_MESSAGE_QUEUE"] = "redis://127.0.0.1:6379/0"
        try:
            kept = kept_module.kept_facts()
            kept.keep("s1", 7, object(), kept.changes)
            assert kept.seconds == 0 and kept.get("s1", 7) is None
        finally:
            app.config["SOCKETIO_MESSAGE_QUEUE"] = None
            app.extensions.pop("ally.kept_facts")


def test_nothing_is_kept_or_used_while_the_queue_is_not_heard():
    hearing = [True]
    kept = kept_module.KeptFacts(10.0, lambda: hearing[0])
    facts = object()
    kept.keep("s1", 7, facts, kept.changes)
    assert kept.get("s1", 7) is facts
    hearing[0] = False
    assert kept.get("s1", 7) is None
    kept.keep("s2", 7, facts, kept.changes)
    hearing[0] = True
    # What was kept before the queue went away is gone, not merely hidden.
    assert kept.get("s1", 7) is None and kept.get("s2", 7) is None


def test_a_room_change_pushed_by_another_process_drops_the_rooms_facts(monkeypatch):
    heard: list[int] = []
    delivered: list[str] = []
    queue = RoomChangeQueue("redis://127.0.0.1:6379/0", heard.append)
    # What the base class does next (deliver to this process's sockets).
    monkeypatch.setattr(
        PubSubManager,
        "_handle_emit",
        lambda self, message: delivered.append(message["room"]),
    )
    for event, room, host in [
        ("session_state", "session:7", "other"),
        ("session_state", "session:8", queue.host_id),  # its own: forgotten where made
        ("signal", "session:9", "other"),
        ("session_state", "session:10:user:3", "other"),
        ("session_state", "user:11", "other"),
        ("presence", "session:12", "other"),  # who is in the room changed
    ]:
        queue._handle_emit(
            {"method": "emit", "event": event, "room": room, "host_id": host}
        )
    assert heard == [7, 12]
    assert len(delivered) == 6  # every push is still delivered


def test_an_app_on_a_redis_queue_keeps_facts_and_hears_other_processes(make_app):
    from ally.extensions import socketio

    other = make_app(SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:6379/0")
    manager = socketio.server.manager
    assert isinstance(manager, RoomChangeQueue)
    with other.app_context():
        kept = kept_module.kept_facts()
    assert kept.seconds == other.config["ALLY_KEPT_FACTS_SECONDS"] > 0
    before = kept.changes
    manager.on_room_change(7)  # what the queue's listener calls
    assert kept.changes == before + 1
