"""The listener's `signal`: checked, relayed at once, acknowledged once stored.

The ack of a signal waits for the commit of the batch that holds it (group
commit, DESIGN §6): after an `ok` ack the row is in the database, with no
flush by anyone. A row the database refuses fails only its own sender.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from ally.models import Signal, TeachSession, Turn, utcnow
from ally.services import tokens
from ally.services.room import signal_store
from ally.services.room import signals as room_signals
from tests.support.room import (
    LONG,
    MAX_ID,
    assert_refused,
    change,
    is_refusal,
    load,
    named,
    new_session,
    ok,
    rows,
    start_teaching,
    stored_signals,
    turn_row,
    utc,
    valid,
)


def test_a_signal_is_stored_with_its_offset_and_relayed_to_the_room(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    started = turn_row(app, session_id, 0).started_at
    # Pretend teaching began 7 s ago, so the offset is not ~0 by accident.
    earlier = started - timedelta(seconds=7)
    change(app, Turn, turn_row(app, session_id, 0).id, started_at=earlier)

    ack = ok(
        people.ben.emit(
            "signal",
            {"session_id": session_id, "kind": "jargon", "word": "macula densa"},
        )
    )
    signal = ack["signal"]
    assert {"session_id", "turn", "kind", "word", "at"} <= set(signal)
    assert (signal["session_id"], signal["turn"], signal["kind"], signal["word"]) == (
        session_id,
        0,
        "jargon",
        "macula densa",
    )
    [row] = rows(app, Signal, Signal.session_id == session_id)
    assert utc(signal["at"]) == row.at
    assert (row.user_id, row.kind, row.word) == (world.ben, "jargon", "macula densa")
    assert row.turn_id == turn_row(app, session_id, 0).id
    assert row.offset_ms == int((row.at - earlier).total_seconds() * 1000)
    assert row.offset_ms >= 7000
    for sock in (people.ann, people.ben):
        assert named(sock.take(), "signal") == [signal]
    assert people.cara.take() == []

    # Every kind; the word is optional.
    for kind in ("lost", "slower", "clear"):
        ack = ok(people.ben.emit("signal", {"session_id": session_id, "kind": kind}))
        assert (ack["signal"]["kind"], ack["signal"]["word"]) == (kind, None)
        [relayed] = named(people.ann.take(), "signal")
        assert relayed == ack["signal"]
    stored = rows(app, Signal, Signal.session_id == session_id)
    assert sorted(r.kind for r in stored) == ["clear", "jargon", "lost", "slower"]
    # The snapshot's tally (additive) counts them.
    state = ok(people.ann.emit("join_session", {"session_id": session_id}))["state"]
    assert state["turns"][0]["signals"] == {
        "jargon": 1,
        "lost": 1,
        "slower": 1,
        "clear": 1,
    }


def test_a_deadline_that_passed_before_an_event_is_applied_first(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    # Teaching ran out a second ago and the job has not run yet: the server's
    # clock decides, so a late signal is the wrong phase, and the room moves on.
    deadline = utcnow() - timedelta(seconds=1)
    change(app, TeachSession, session_id, phase_ends_at=deadline)
    ack = people.ben.emit("signal", {"session_id": session_id, "kind": "lost"})
    assert is_refusal(ack, "wrong_phase")
    assert rows(app, Signal, Signal.session_id == session_id) == []
    session = load(app, TeachSession, session_id)
    assert (session.phase, session.phase_ends_at) == (
        "rating",
        deadline + timedelta(seconds=LONG),
    )
    assert turn_row(app, session_id, 0).teach_ends_at == deadline
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert state["phase"] == "rating"


def test_signals_are_limited_to_about_five_a_second(app, world, people, monkeypatch):
    session_id = new_session(world)
    start_teaching(people, session_id)
    clock = [1000.0]
    monkeypatch.setattr(
        room_signals, "time", SimpleNamespace(monotonic=lambda: clock[0])
    )
    lost = {"session_id": session_id, "kind": "lost"}
    # A burst is allowed (room_signals.SIGNAL_BURST), then the bucket is empty.
    for _ in range(int(room_signals.SIGNAL_BURST)):
        ok(people.ben.emit("signal", lost))
    assert room_signals.SIGNAL_RATE == 5.0
    people.ann.take(), people.ben.take()
    assert_refused(app, people.ben, "signal", (lost,), "rate_limited", (people.ann,))
    # It refills at 5 a second: one more after a fifth of a second, not two.
    clock[0] += 0.2
    ok(people.ben.emit("signal", lost))
    assert_refused(app, people.ben, "signal", (lost,), "rate_limited", (people.ann,))
    assert len(rows(app, Signal, Signal.session_id == session_id)) == 9
    # A second later the listener may go on.
    clock[0] += 1.0
    for _ in range(5):
        ok(people.ben.emit("signal", lost))
    assert len(rows(app, Signal, Signal.session_id == session_id)) == 14


@pytest.mark.parametrize("flush_ms", [None, 300], ids=["default", "300ms"])
def test_after_an_ok_ack_the_signal_is_committed(app, world, people, flush_ms):
    if flush_ms is None:
        assert app.config["ALLY_SIGNAL_FLUSH_MS"] == 20
    else:
        # A batch interval far longer than a test's reads: only an ack that
        # waits for the commit can make the row visible right after it.
        app.config["ALLY_SIGNAL_FLUSH_MS"] = flush_ms
    session_id = new_session(world)
    start_teaching(people, session_id)
    ok(people.ben.emit("signal", {"session_id": session_id, "kind": "lost"}))
    # Read at once, through another connection, with no flush by anyone.
    assert stored_signals(app, session_id) == [("lost", None)]
    ok(people.ben.emit("signal", valid("signal", session_id)))
    assert stored_signals(app, session_id) == [
        ("lost", None),
        ("jargon", "macula densa"),
    ]
    lines = app.extensions["ally.signal_store"]
    assert lines.pending.rows == []  # nothing acknowledged is left in the queue


def test_an_acked_signal_is_there_for_every_read_and_the_turns_jargon_count(
    app, world, people
):
    session_id = new_session(world)
    start_teaching(people, session_id)
    jargon = {"session_id": session_id, "kind": "jargon", "word": "preload"}
    ok(people.ben.emit("signal", jargon))
    ok(people.ben.emit("signal", {"session_id": session_id, "kind": "slower"}))

    # An HTTP request (here the API's session) sees them.
    _, raw = tokens.create_token(world.ann, "tests")
    answer = app.test_client().get(
        f"/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {raw}"}
    )
    assert answer.status_code == 200
    [turn] = [t for t in answer.get_json()["turns"] if t["index"] == 0]
    assert [(s["kind"], s["word"]) for s in turn["signals"]] == [
        ("jargon", "preload"),
        ("slower", None),
    ]

    # A signal right before the turn ends is counted in the turn's jargon flags
    # (written when its pause ends: rated, and the teacher ready).
    ok(people.ben.emit("signal", jargon))
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    ok(people.ben.emit("rate", {**valid("rate", session_id), "simplicity": 4}))
    ok(people.ann.emit("ready", valid("ready", session_id)))
    ended = turn_row(app, session_id, 0)
    assert ended.ended_at is not None
    assert ended.jargon_flags == 2
    assert stored_signals(app, session_id) == [
        ("jargon", "preload"),
        ("slower", None),
        ("jargon", "preload"),
    ]


class TwoRooms:
    """Ben (listening to Ann) and Dan (listening to Cara), each in a live
    turn, Ben's next rows refused by the database: as if his turn's row had
    been deleted between the read of the checks and the batch's write."""

    def __init__(self, app, world, people, token_socket, monkeypatch) -> None:
        self.ours = new_session(world)  # Ann teaches, Ben listens
        start_teaching(people, self.ours)
        self.theirs = new_session(world, teacher="cara")  # Cara teaches
        self.ben, self.dan = people.ben, token_socket(world.dan)
        ok(people.cara.emit("join_session", {"session_id": self.theirs}))
        ok(self.dan.emit("join_session", {"session_id": self.theirs}))
        ben_sid, self.read_facts = self.ben.sid, signal_store.read_facts

        def facts_of(sid: str, session_id: int):
            facts = self.read_facts(sid, session_id)
            return facts._replace(turn_id=MAX_ID) if sid == ben_sid else facts

        monkeypatch.setattr(room_signals, "read_facts", facts_of)
        self.lines = signal_store._lines()
        self.acks: dict[str, object] = {}

    def sender(self, name: str) -> threading.Thread:
        sock, session_id = {
            "ben": (self.ben, self.ours),
            "dan": (self.dan, self.theirs),
        }[name]

        def send() -> None:
            self.acks[name] = sock.emit(
                "signal", {"session_id": session_id, "kind": "lost"}
            )

        thread = threading.Thread(target=send)
        thread.start()
        return thread


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_a_row_the_database_refuses_fails_only_its_sender(
    app, world, people, token_socket, monkeypatch
):
    rooms = TwoRooms(app, world, people, token_socket, monkeypatch)
    queued = []
    queue = signal_store._queue

    def spy(lines, values):
        ticket = queue(lines, values)
        queued.append(ticket)
        return ticket

    monkeypatch.setattr(signal_store, "_queue", spy)
    # The writer held back until both rows are queued, one after the other:
    # one batch holds both, Ben's row first.
    with rooms.lines.writer.lock:
        senders = [rooms.sender("ben")]
        wait_for(lambda: len(queued) == 1, "Ben's signal was never queued")
        senders.append(rooms.sender("dan"))
        wait_for(lambda: len(queued) == 2, "Dan's signal was never queued")
        [(batch, first), (same, second)] = queued
        assert same is batch and (first, second) == (0, 1)
        assert rooms.acks == {}  # neither sender is answered before the commit
    for sender in senders:
        sender.join(timeout=15)
        assert not sender.is_alive()
    assert batch.done.is_set() and batch.failed == {0: signal_store.REFUSED}
    assert is_refusal(rooms.acks["ben"], "server_error"), rooms.acks
    assert ok(rooms.acks["dan"])["signal"]["session_id"] == rooms.theirs
    assert stored_signals(app, rooms.theirs) == [("lost", None)]
    assert stored_signals(app, rooms.ours) == []
    # The path goes on: Ben's next signal is stored.
    monkeypatch.setattr(room_signals, "read_facts", rooms.read_facts)
    ok(people.ben.emit("signal", {"session_id": rooms.ours, "kind": "clear"}))
    assert stored_signals(app, rooms.ours) == [("clear", None)]


class SecondSenderFirst:
    """Stands in for the queue's lock: the first sender, once out of it, waits
    until the second has queued its row too (threads may interleave so)."""

    def __init__(self, lock) -> None:
        self.lock = lock
        self.first: int | None = None
        self.second_queued = threading.Event()

    def __enter__(self):
        self.lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        me = threading.get_ident()
        self.lock.release()
        if self.first is None:
            self.first = me
            self.second_queued.wait(5)
        elif me != self.first and not self.second_queued.is_set():
            self.second_queued.set()


def test_each_sender_hears_of_its_own_row_when_both_queue_at_once(
    app, world, people, token_socket, monkeypatch
):
    rooms = TwoRooms(app, world, people, token_socket, monkeypatch)
    monkeypatch.setattr(
        rooms.lines, "pending_lock", SecondSenderFirst(rooms.lines.pending_lock)
    )
    with rooms.lines.writer.lock:
        senders = [rooms.sender("ben")]
        wait_for(lambda: len(rooms.lines.pending.rows) == 1, "Ben's never queued")
        senders.append(rooms.sender("dan"))
        wait_for(lambda: len(rooms.lines.pending.rows) == 2, "Dan's never queued")
    for sender in senders:
        sender.join(timeout=15)
        assert not sender.is_alive()
    assert stored_signals(app, rooms.ours) == []  # Ben's row was refused
    assert is_refusal(rooms.acks["ben"], "server_error"), rooms.acks
    assert ok(rooms.acks["dan"])
