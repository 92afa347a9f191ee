"""Hostile room events against a real `python app.py`, through real clients.

For every event a client can send (DESIGN.md §6, §10, §11), hypothesis draws
payloads that must be refused (tests/fuzz/strategies.py). Each is sent by a
python-socketio client over websocket to a live server in the phase where the
legal payload is accepted, and must be answered `ok: false` with one of the
protocol's codes, write nothing (the room's tables are compared row by row),
relay nothing to the partner, and leave the server serving: after each event's
fuzz, the legal payload still works. Unknown events and malformed packets are
ignored or end that one connection. Engine.IO's message limit is tested at both
sides: the largest legal messages pass, one byte over the limit is refused.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ally.realtime import MAX_MESSAGE_BYTES
from tests.fuzz import strategies as hostile
from tests.live.room_kit import (
    WAIT,
    Account,
    RoomClient,
    assert_clean_log,
    extra_session,
    pair,
    wait_for,
)
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live

CODES = {"not_found", "forbidden", "wrong_phase", "invalid", "already_rated"}
# Payloads per event and sender: about a minute for the whole file on 2 cores.
EXAMPLES = 100
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
# The room's tables: a refused event changes none of their rows.
TABLES = ("teach_sessions", "turns", "signals", "ratings", "sketches", "topic_cards")
SENT: Counter[str] = Counter()
RELAYED = ("signal", "sketch", "call", "rated")


class FuzzClient(RoomClient):
    """A room client that also records what is relayed to it."""

    def __init__(self, server: LiveServer, account: Account) -> None:
        super().__init__(server, account, reconnection=False)
        for name in ("call", "sketch"):
            self.sio.on(name, partial(self._record, name))
        self.sio.on("disconnect", partial(self._record, "disconnected"))

    def refused(self, event: str, payload: Any) -> dict:
        """Send a hostile payload; its ack must be a refusal with a known code."""
        ack = self.sio.call(event, payload, timeout=WAIT)
        assert isinstance(ack, dict), (event, ack)
        assert ack.get("ok") is False, (event, payload, ack)
        assert ack.get("error") in CODES, (event, ack)
        assert isinstance(ack.get("message"), str) and ack["message"], ack
        return ack


class Room:
    """The live server, two partners in a live session, and an outsider."""

    def __init__(self, server: LiveServer, database: Path) -> None:
        self.server = server
        self.database = database
        self.ann, self.ben, pid = pair(server, "Ann", "Ben")
        cat, dan, other_pid = pair(server, "Cat", "Dan")
        # Long phases: nothing moves unless a test moves it.
        self.session_id = extra_session(server, self.ann, pid, 2, 1800, 600)
        self.other_session_id = extra_session(server, cat, other_pid, 2, 1800, 600)
        self.clients: list[FuzzClient] = []
        self.teacher = self.connect(self.ann)  # Ann teaches turn 0 (she made it)
        self.listener = self.connect(self.ben)
        self.teacher.join(self.session_id)
        self.listener.join(self.session_id)
        wait_for("teaching", lambda: self.phase() == ("live", "teaching"))

    def connect(self, account: Account) -> FuzzClient:
        client = FuzzClient(self.server, account)
        self.clients.append(client)
        return client.connect()

    def rows(self) -> dict[str, list[tuple]]:
        """Every row of the room's tables, as the server committed them."""
        with closing(sqlite3.connect(self.database)) as db:
            return {
                table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in TABLES
            }

    def phase(self) -> tuple[str, str]:
        with closing(sqlite3.connect(self.database)) as db:
            return db.execute(
                "SELECT status, phase FROM teach_sessions WHERE id = ?",
                (self.session_id,),
            ).fetchone()

    def count(self, table: str) -> int:
        with closing(sqlite3.connect(self.database)) as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def shape(self, turn: int) -> hostile.Room:
        return hostile.Room(self.session_id, (self.other_session_id,), 2, turn)

    def relayed(self) -> dict[str, int]:
        """How many relays each partner has received, per event."""
        return {
            f"{who}:{name}": len(client.events(name))
            for who, client in (("ann", self.teacher), ("ben", self.listener))
            for name in RELAYED
        }

    def to_rating(self) -> None:
        """Ann says she is done: turn 0's rating phase (once)."""
        if self.phase() == ("live", "teaching"):
            self.teacher.ok("finish_turn", {"session_id": self.session_id})
        assert self.phase() == ("live", "rating")


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    directory = tmp_path_factory.mktemp("socket-fuzz")
    database = directory / "ally.db"
    server = LiveServer(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "SECRET_KEY": "ally-socket-fuzz",
            "ALLY_SCHEDULER": "off",
            "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
            "SOCKETIO_MESSAGE_QUEUE": "",
        },
        log_path=directory / "server.log",
    ).start()
    try:
        the_room = Room(server, database)
        yield the_room
        for client in the_room.clients:
            client.close()  # those the server cut off too: their sockets stay open
        assert_clean_log(server)
    finally:
        server.stop()


def fuzz(room: Room, event: str, client: FuzzClient, turn: int = 0) -> None:
    """Send hostile `event` payloads from `client`: each refused, nothing
    written, nothing relayed."""

    @FUZZ
    @given(payload=hostile.payloads(event, room.shape(turn)))
    def one(payload: Any) -> None:
        before, relays = room.rows(), room.relayed()
        SENT[event] += 1
        client.refused(event, payload)
        assert room.rows() == before, (event, payload)
        assert room.relayed() == relays, (event, payload)

    one()


def still_works(room: Room, client: FuzzClient, event: str, payload: dict) -> dict:
    """The legal payload is accepted after the fuzz, and the server is well."""
    ack = client.ok(event, payload)
    assert room.server.is_running()
    return ack


# --- teaching phase: Ann teaches turn 0, Ben listens ------------------------------


def test_join_and_leave(room: Room) -> None:
    for event in ("join_session", "leave_session"):
        for client in (room.teacher, room.listener):
            fuzz(room, event, client)
    still_works(room, room.listener, "leave_session", {"session_id": room.session_id})
    room.listener.join(room.session_id)
    assert room.phase() == ("live", "teaching")


def test_signal(room: Room) -> None:
    fuzz(room, "signal", room.listener)
    fuzz(room, "signal", room.teacher)  # the teacher may not signal at all
    signals = room.count("signals")
    still_works(
        room, room.listener, "signal", {"session_id": room.session_id, "kind": "lost"}
    )
    assert room.count("signals") == signals + 1
    room.teacher.wait_count("signal", 1)


def test_set_topic(room: Room) -> None:
    fuzz(room, "set_topic", room.teacher)
    fuzz(room, "set_topic", room.listener, turn=1)
    still_works(
        room,
        room.teacher,
        "set_topic",
        {"session_id": room.session_id, "title": "Loop diuretics"},
    )


def test_sketch(room: Room) -> None:
    fuzz(room, "sketch", room.teacher)
    fuzz(room, "sketch", room.listener)  # the listener may not draw at all
    still_works(room, room.teacher, "sketch", hostile.LEGAL["sketch"](room.shape(0)))
    room.listener.wait_count("sketch", 1)


def test_predict(room: Room) -> None:
    fuzz(room, "predict", room.listener, turn=1)  # Ben teaches turn 1
    fuzz(room, "predict", room.teacher, turn=1)
    still_works(room, room.listener, "predict", hostile.LEGAL["predict"](room.shape(1)))


def test_call(room: Room) -> None:
    fuzz(room, "call", room.teacher)
    fuzz(room, "call", room.listener)
    still_works(room, room.teacher, "call", hostile.LEGAL["call"](room.shape(0)))
    room.listener.wait_count("call", 1)
    assert room.teacher.events("call") == []


def test_unknown_events_are_ignored(room: Room) -> None:
    """An event nobody handles gets no ack and changes nothing; the socket
    stays connected and usable."""
    before = room.rows()

    @FUZZ
    @given(name=hostile.UNKNOWN_EVENTS, payload=st.one_of(hostile.json_values))
    def one(name: str, payload: Any) -> None:
        SENT["(unknown events)"] += 1
        room.listener.sio.emit(name, payload)

    one()
    # One client's events are handled in order: this ack comes after them all.
    still_works(room, room.listener, "join_session", {"session_id": room.session_id})
    assert room.rows() == before
    assert room.listener.sio.connected


def test_finish_turn(room: Room) -> None:
    fuzz(room, "finish_turn", room.teacher)
    fuzz(room, "finish_turn", room.listener)
    assert room.phase() == ("live", "teaching")
    room.to_rating()


# --- rating phase of turn 0: Ben rates, Ann reflects --------------------------------


def test_summary(room: Room) -> None:
    room.to_rating()
    fuzz(room, "summary", room.teacher)
    fuzz(room, "summary", room.listener)
    still_works(room, room.teacher, "summary", hostile.LEGAL["summary"](room.shape(0)))


def test_self_rate_and_ready(room: Room) -> None:
    room.to_rating()
    for event in ("self_rate", "ready"):
        fuzz(room, event, room.teacher)
        fuzz(room, event, room.listener)
    still_works(room, room.teacher, "ready", hostile.LEGAL["ready"](room.shape(0)))
    assert room.phase() == ("live", "rating")  # the pause waits for Ben's rating


def test_rate(room: Room) -> None:
    room.to_rating()
    fuzz(room, "rate", room.listener)
    fuzz(room, "rate", room.teacher)
    ratings = room.count("ratings")
    still_works(room, room.listener, "rate", hostile.LEGAL["rate"](room.shape(0)))
    assert room.count("ratings") == ratings + 1
    # Rated and ready: turn 1 starts, Ben teaching.
    wait_for("turn 1", lambda: room.phase() == ("live", "teaching"))


# --- malformed packets and Engine.IO's message limit --------------------------------


def deep_packet(depth: int) -> str:
    """A Socket.IO EVENT packet whose argument is `depth` lists deep."""
    return '2["signal",' + "[" * depth + "]" * depth + "]"


DEEP_BINARY = (
    '51-["signal",' + "[" * 990 + '{"_placeholder":true,"num":0}' + "]" * 990 + "]"
)
# (packet, whether the server must end the connection that sent it)
MALFORMED = (
    (deep_packet(100_000), True),  # a RecursionError in the JSON decoder
    ('2["signal",{"session_id":', True),  # cut short
    ('2["signal",{"session_id":1}', True),
    ("2" + "9" * 200 + '["signal",{}]', True),  # an ack id far too long
    ("9", True),  # no such packet type
    ('4{"message":"no"}', True),  # CONNECT_ERROR: the server's to send
    ("2[]", True),  # an event with no name
    ("2[42]", True),  # a name that is not text
    ('2"signal"', True),
    ("2{}", True),
    ("2\x00", True),
    ('2["connect",{"token":null}]', True),  # the connection's own events
    ('2["disconnect"]', True),
    ('21["connect_error",{}]', True),
    (DEEP_BINARY, True),  # binary rebuilt recursively
    ('2/nowhere,["signal",{}]', False),  # a namespace it never joined: ignored
    ('51-["signal",{"_placeholder":true,"num":0}]', False),  # binary to come
)


@pytest.mark.parametrize(
    ("packet", "ends"),
    MALFORMED,
    ids=lambda p: repr(p)[:24] if isinstance(p, str) else None,
)
def test_malformed_packets(room: Room, packet: str, ends: bool) -> None:
    """A packet that does not decode is dropped without a traceback and ends
    the connection that sent it; the server goes on serving everyone else."""
    before = room.rows()
    intruder = room.connect(room.listener.account)
    SENT["(malformed packets)"] += 1
    intruder.sio.eio.send(packet)
    if packet == DEEP_BINARY:
        intruder.sio.eio.send(b"attachment")
    if ends:
        wait_for("the intruder cut off", lambda: not intruder.sio.connected)
    ack = room.listener.ok("join_session", {"session_id": room.session_id})
    assert ack["state"]["session_id"] == room.session_id
    assert room.rows() == before
    assert "Traceback" not in room.server.log_text(), room.server.log_tail(80)
    intruder.close()


def largest_sketch(room: Room) -> dict:
    """A legal sketch message as long as JSON can make it: 500 strokes of one
    point, every number at full float precision, the longest colour."""
    stroke = {
        "points": [[999.9999999999999, 999.9999999999999]],
        "width": 39.99999999999999,
        "color": max(hostile.SKETCH_COLORS, key=len),
    }
    payload = {"session_id": room.session_id, "turn": 1, "strokes": [stroke] * 500}
    return payload


def packet_size(event: str, payload: Any) -> int:
    """Bytes of the Socket.IO packet python-socketio sends for this event."""
    return len(json.dumps([event, payload], separators=(",", ":")).encode()) + 5


def test_largest_legal_messages_pass(room: Room) -> None:
    """The limit sits above every legal message: the largest sketch and a call
    offer of 32 KiB of SDP, even one whose every byte JSON escapes as six."""
    assert room.phase() == ("live", "teaching")  # turn 1: Ben teaches
    sketch = largest_sketch(room)
    assert 40_000 < packet_size("sketch", sketch) < MAX_MESSAGE_BYTES // 4
    ack = room.listener.ok("sketch", sketch)
    assert ack["points"] == 500
    sdp = "\x01" * (32 * 1024)
    offer = {
        "session_id": room.session_id,
        "kind": "offer",
        "data": {"type": "offer", "sdp": sdp},
    }
    size = packet_size("call", offer)
    assert 6 * 32 * 1024 < size < MAX_MESSAGE_BYTES
    room.listener.ok("call", offer)
    room.teacher.wait_count("call", 1)


def test_oversize_message_ends_that_connection(room: Room) -> None:
    """One byte over the limit: the server drops that connection, writes
    nothing, and keeps serving the others."""
    before = room.rows()
    intruder = room.connect(room.teacher.account)
    word = "x" * MAX_MESSAGE_BYTES
    payload = {"session_id": room.session_id, "kind": "jargon", "word": word}
    assert packet_size("signal", payload) > MAX_MESSAGE_BYTES
    SENT["(oversize message)"] += 1
    intruder.sio.emit("signal", payload)
    wait_for("the intruder dropped", lambda: not intruder.sio.connected)
    assert room.rows() == before
    room.listener.ok("join_session", {"session_id": room.session_id})
    again = room.connect(room.teacher.account)
    again.ok("join_session", {"session_id": room.session_id})


def test_payloads_were_fuzzed(capsys: pytest.CaptureFixture[str]) -> None:
    """Say how many payloads each event got (runs after the others)."""
    with capsys.disabled():
        print(f"\nsocket fuzzing: {sum(SENT.values())} hostile messages")
        for name, count in sorted(SENT.items()):
            print(f"  {count:5d}  {name}")
    if set(hostile.EVENTS) <= set(SENT):  # the whole file ran, not a selection
        assert all(SENT[event] >= EXAMPLES for event in hostile.EVENTS)
