"""The room protocol (DESIGN.md §6) through Flask-SocketIO's test client.

Ann and Ben are partners; Cara and Dan are partners too, so Cara is an outsider
with a session of her own. Extra sessions of 2 turns start now, Ann teaching
turn 0 and Ben turn 1. The handlers read the real clock, so phases are 600 s
long and move only through `finish_turn` / `rate`, or through a deadline put in
the past and the `advance_phases` job.

Every socket call runs in an app context of its own (its own `g`, Flask-Login
cache and database session), as separate requests would. "Nothing written" is
checked against a dump of every table the room touches, not a single count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from ally.extensions import db, socketio
from ally.jobs import run_job
from ally.models import (
    LiveSocket,
    Rating,
    SessionParticipant,
    Signal,
    TeachSession,
    Turn,
    User,
    utcnow,
)
from ally.models import user as user_model
from ally.realtime import room_events
from ally.services import notifications, room, schedule, tokens
from ally.services.room import signal_store as live_signals
from ally.services.room import signals as room_signals
from tests.conftest import PASSWORD, Browser, IsolatedClient

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
}
MISSING_SESSION = 987_654


# --- harness -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def room_app(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Flask:
    app.test_client_class = IsolatedClient
    app.config.update(ALLY_MIN_TEACH_SECONDS=1, ALLY_MIN_RATE_SECONDS=1)
    # The signal limiter is per process and keyed by user id; ids repeat from
    # one test's database to the next, so each test starts with full buckets.
    monkeypatch.setattr(room_signals, "_buckets", {})
    # Speed only: a cheap scrypt for the many accounts made here (the real cost
    # is tested with accounts); logins check whatever the stored hash says.
    monkeypatch.setattr(
        user_model,
        "generate_password_hash",
        lambda password, method="scrypt": generate_password_hash(
            password, method="scrypt:1024:8:1"
        ),
    )
    return app


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


@pytest.fixture
def world(make_user, make_partnership) -> World:
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    cara = make_user("cara@example.com", display_name="Cara")
    dan = make_user("dan@example.com", display_name="Dan")
    pair = make_partnership(ann, ben)
    other = make_partnership(cara, dan)
    return World(ann.id, ben.id, cara.id, dan.id, pair.id, other.id)


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


@pytest.fixture
def browser_for(app: Flask, world: World):
    """A logged-in browser of its own for a user's email."""

    def login(email: str) -> Browser:
        browser = Browser(app.test_client())
        assert browser.login(email).status_code == 302
        return browser

    return login


@pytest.fixture
def sockets(app: Flask):
    """Open Socket.IO test clients; whatever is still connected closes at the end."""
    opened: list[Sock] = []

    def connect(flask_client: FlaskClient | None = None, auth: Any = None) -> Sock:
        with app.app_context():
            raw = socketio.test_client(app, flask_test_client=flask_client, auth=auth)
        sock = Sock(app, raw)
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        if sock.connected:
            sock.disconnect()


@pytest.fixture
def socket_of(sockets, browser_for):
    """A connected socket of a user, through a login of their own (the cookie)."""

    def connect(email: str) -> Sock:
        sock = sockets(browser_for(email).client)
        assert sock.connected
        return sock

    return connect


@pytest.fixture
def token_socket(sockets):
    """A connected socket of a user, through an API token in `auth`."""

    def connect(user_id: int) -> Sock:
        _, raw = tokens.create_token(user_id, "socket")
        sock = sockets(auth={"token": raw})
        assert sock.connected
        return sock

    return connect


@pytest.fixture
def people(world: World, token_socket) -> SimpleNamespace:
    """Sockets for Ann, Ben (partners) and Cara (an outsider).

    Through API tokens: a login per socket would hash a password each time
    (the cookie path has tests of its own).
    """
    return SimpleNamespace(
        ann=token_socket(world.ann),
        ben=token_socket(world.ben),
        cara=token_socket(world.cara),
    )


def dump(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table the room writes, read through a fresh session."""
    with app.app_context():
        live_signals.flush()  # accepted signals are written in batches
        tables = db.metadata.tables
        return {
            name: sorted(
                (tuple(row) for row in db.session.execute(select(tables[name]))),
                key=repr,
            )
            for name in ROOM_TABLES
        }


def load(app: Flask, model: type, key: Any) -> Any:
    """One row, freshly read (detached copy of its column values)."""
    with app.app_context():
        live_signals.flush()
        row = db.session.get(model, key)
        return None if row is None else SimpleNamespace(**_columns(row))


def rows(app: Flask, model: type, *where: Any) -> list[SimpleNamespace]:
    with app.app_context():
        live_signals.flush()
        found = db.session.scalars(select(model).where(*where)).all()
        return [SimpleNamespace(**_columns(row)) for row in found]


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def turn_row(app: Flask, session_id: int, index: int) -> SimpleNamespace | None:
    found = rows(app, Turn, Turn.session_id == session_id, Turn.index == index)
    return found[0] if found else None


def change(app: Flask, model: type, key: Any, **values: Any) -> None:
    """Write columns of one row directly (a test's way to move the clock)."""
    with app.app_context():
        db.session.execute(
            update(model)
            .where(model.__table__.primary_key.columns.values()[0] == key)
            .values(**values)
        )
        db.session.commit()


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
    }[event]


def ok(ack: Any) -> dict:
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    return ack


def start_teaching(people: SimpleNamespace, session_id: int) -> None:
    """Both partners join: turn 0 (Ann teaching) starts now."""
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    state = ok(people.ben.emit("join_session", {"session_id": session_id}))["state"]
    assert (state["status"], state["phase"], state["turn"]) == ("live", "teaching", 0)
    people.ann.take(), people.ben.take()


def start_rating(people: SimpleNamespace, session_id: int) -> None:
    start_teaching(people, session_id)
    state = ok(people.ann.emit("finish_turn", {"session_id": session_id}))["state"]
    assert (state["phase"], state["turn"]) == ("rating", 0)
    people.ann.take(), people.ben.take()


def test_the_contract_names_every_handled_event_and_code():
    assert set(room_events.EVENTS) | set(room_events.SERVER_EVENTS) == set(EVENTS)
    codes = {
        cls.code
        for cls in (
            room.NotFound,
            room.Forbidden,
            room.WrongPhase,
            room.Invalid,
            room.AlreadyRated,
            room.RateLimited,
        )
    }
    assert codes == set(CODES)


# --- connecting ----------------------------------------------------------------


def test_an_anonymous_socket_is_refused(app, world, sockets):
    before = dump(app)
    anonymous = sockets(app.test_client())
    assert not anonymous.connected
    no_client = sockets()
    assert not no_client.connected
    empty_auth = sockets(auth={})
    assert not empty_auth.connected
    # Nothing to send on: the client has no connection.
    with pytest.raises(RuntimeError, match="not connected"):
        anonymous.emit("join_session", {"session_id": 1})
    assert dump(app) == before  # no socket row for a refused connection


def test_a_logged_in_cookie_opens_a_socket_in_the_users_own_room(app, world, socket_of):
    ann = socket_of("ann@example.com")
    ben = socket_of("ben@example.com")
    [row] = rows(app, LiveSocket, LiveSocket.sid == ann.sid)
    assert (row.user_id, row.session_id) == (world.ann, None)
    assert row.auth_version == load(app, User, world.ann).auth_version
    ann.take(), ben.take()

    notifications.notify(world.ann, "note", "Only for Ann", "/partners")
    [note] = named(ann.take(), "notification")
    assert (note["kind"], note["text"], note["url"]) == (
        "note",
        "Only for Ann",
        "/partners",
    )
    assert ben.take() == []


def test_an_api_token_in_auth_opens_a_socket(app, world, sockets):
    _, raw = tokens.create_token(world.ben, "phone")
    sock = sockets(auth={"token": raw})
    assert sock.connected
    [row] = rows(app, LiveSocket, LiveSocket.sid == sock.sid)
    assert row.user_id == world.ben
    sock.take()
    notifications.notify(world.ben, "note", "To the phone", "/sessions")
    assert [n["text"] for n in named(sock.take(), "notification")] == ["To the phone"]


@pytest.mark.parametrize(
    "token",
    ["ally_not-a-real-token", "not-even-prefixed", "", 12345, None, ["ally_x"]],
)
def test_a_wrong_token_is_refused(app, world, sockets, token):
    before = dump(app)
    sock = sockets(auth={"token": token})
    assert not sock.connected
    assert dump(app) == before


def test_a_revoked_token_is_refused(app, world, sockets):
    token, raw = tokens.create_token(world.ben, "phone")
    first = sockets(auth={"token": raw})
    assert first.connected
    tokens.revoke_token(world.ben, token.id)
    assert not sockets(auth={"token": raw}).connected


def test_a_wrong_token_wins_over_a_valid_cookie(app, world, sockets, browser_for):
    # A client that says which credential it uses gets exactly that one checked.
    browser = browser_for("ann@example.com")
    assert not sockets(browser.client, auth={"token": "ally_forged"}).connected
    assert sockets(browser.client).connected


# --- join, snapshot, presence ------------------------------------------------------


def check_snapshot(app: Flask, state: dict, session_id: int, world: World) -> None:
    """Every key of DESIGN §6's snapshot, each equal to what the database holds."""
    assert SNAPSHOT_KEYS <= set(state)
    session = load(app, TeachSession, session_id)
    assert state["session_id"] == session_id
    assert (state["status"], state["phase"], state["turn"]) == (
        session.status,
        session.phase,
        session.current_turn,
    )
    assert state["status"] in (
        "scheduled",
        "open",
        "live",
        "completed",
        "missed",
        "cancelled",
    )
    assert state["phase"] in ("waiting", "teaching", "rating", "done")
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
    for turn in state["turns"]:
        assert TURN_KEYS <= set(turn)
        teacher = (world.ann, world.ben)[turn["index"] % 2]
        listener = (world.ben, world.ann)[turn["index"] % 2]
        assert (turn["teacher_id"], turn["listener_id"]) == (teacher, listener)
        stored = turn_row(app, session_id, turn["index"])
        for key in ("started_at", "teach_ends_at", "rating_ends_at", "ended_at"):
            expected = getattr(stored, key) if stored else None
            if expected is None:
                assert turn[key] is None, (turn["index"], key)
            else:
                assert utc(turn[key]) == expected, (turn["index"], key)
        assert turn["topic"] == (stored.topic if stored else None)
        assert turn["summary"] == (stored.summary if stored else None)
        assert turn["simplicity"] == (ratings.get(stored.id) if stored else None)


def test_join_acks_the_full_snapshot_and_the_room_learns_of_each_arrival(
    app, world, people
):
    session_id = new_session(world)
    people.ben.take()  # the "session open" notification
    before = utcnow()
    ack = ok(people.ann.emit("join_session", {"session_id": session_id}))
    after = utcnow()
    assert set(ack) == {"ok", "state"}
    state = ack["state"]
    check_snapshot(app, state, session_id, world)
    assert before <= utc(state["server_time"]) <= after
    # Alone: the room waits for Ben, with no deadline set.
    assert (state["status"], state["phase"], state["turn"]) == ("open", "waiting", 0)
    assert state["phase_ends_at"] is None
    assert [(p["user_id"], p["online"]) for p in state["participants"]] == [
        (world.ann, True),
        (world.ben, False),
    ]
    assert [p["display_name"] for p in state["participants"]] == ["Ann", "Ben"]
    assert all(t["started_at"] is None for t in state["turns"])
    # Ann is in the room: she hears her own arrival; Ben, not in it, is told
    # through his own room that his partner is waiting.
    assert named(people.ann.take(), "presence") == [
        {"session_id": session_id, "user_id": world.ann, "online": True}
    ]
    ben_events = people.ben.take()
    assert named(ben_events, "presence") == []
    [note] = named(ben_events, "notification")
    assert note["kind"] == "partner_joined"
    assert note["url"] == f"/sessions/{session_id}"
    assert "Ann" in note["text"]
    assert people.cara.take() == []

    # Ben arrives after the start time: teaching starts at once.
    ack = ok(people.ben.emit("join_session", {"session_id": session_id}))
    state = ack["state"]
    check_snapshot(app, state, session_id, world)
    session = load(app, TeachSession, session_id)
    assert (state["status"], state["phase"], state["turn"]) == ("live", "teaching", 0)
    assert utc(state["phase_ends_at"]) == session.started_at + timedelta(seconds=LONG)
    assert utc(state["turns"][0]["started_at"]) == session.started_at
    assert utc(state["turns"][0]["teach_ends_at"]) == session.phase_ends_at
    assert [p["online"] for p in state["participants"]] == [True, True]
    for sock in (people.ann, people.ben):
        events = sock.take()
        assert named(events, "presence") == [
            {"session_id": session_id, "user_id": world.ben, "online": True}
        ]
        [pushed] = named(events, "session_state")
        check_snapshot(app, pushed, session_id, world)
        assert (pushed["phase"], pushed["version"]) == ("teaching", session.version)
        assert named(events, "notification") == []  # teaching: nobody to call
    assert people.cara.take() == []
    joined = {
        p.user_id: p.joined_at
        for p in rows(
            app, SessionParticipant, SessionParticipant.session_id == session_id
        )
    }
    assert set(joined) == {world.ann, world.ben}
    assert all(at is not None for at in joined.values())


def test_the_waiting_partner_is_called_once(app, world, people):
    session_id = new_session(world)
    people.ben.take()  # the "session open" notification
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    ok(people.ann.emit("leave_session", {"session_id": session_id}))
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    kinds = [n["kind"] for n in named(people.ben.take(), "notification")]
    assert kinds == ["partner_joined"]


def test_an_early_pair_waits_for_the_start_time(app, world, people):
    session_id = new_session(world, starts_in=300)
    starts_at = load(app, TeachSession, session_id).starts_at
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    state = ok(people.ben.emit("join_session", {"session_id": session_id}))["state"]
    # Both present, early: still waiting, the wait ends at the start time.
    assert (state["status"], state["phase"]) == ("open", "waiting")
    assert utc(state["phase_ends_at"]) == starts_at
    assert [p["online"] for p in state["participants"]] == [True, True]
    [pushed] = named(people.ann.take(), "session_state")
    assert utc(pushed["phase_ends_at"]) == starts_at
    assert turn_row(app, session_id, 0) is None  # nothing started

    # One leaves: the start is off again until both are back.
    people.ben.take()
    ok(people.ben.emit("leave_session", {"session_id": session_id}))
    assert load(app, TeachSession, session_id).phase_ends_at is None
    [pushed] = named(people.ann.take(), "session_state")
    assert pushed["phase_ends_at"] is None
    ok(people.ben.emit("join_session", {"session_id": session_id}))
    assert load(app, TeachSession, session_id).phase_ends_at == starts_at
    people.ann.take(), people.ben.take()

    # The deadline job starts teaching at the start time exactly.
    assert run_job("advance_phases", starts_at) == 1
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.started_at) == (
        "live",
        "teaching",
        starts_at,
    )
    assert session.phase_ends_at == starts_at + timedelta(seconds=LONG)
    for sock in (people.ann, people.ben):
        [pushed] = named(sock.take(), "session_state")
        assert (pushed["phase"], utc(pushed["turns"][0]["started_at"])) == (
            "teaching",
            starts_at,
        )


def test_presence_follows_leave_other_tabs_and_disconnects(
    app, world, people, token_socket
):
    session_id = new_session(world)
    start_teaching(people, session_id)
    gone = {"session_id": session_id, "user_id": world.ben, "online": False}
    back = {"session_id": session_id, "user_id": world.ben, "online": True}

    ack = ok(people.ben.emit("leave_session", {"session_id": session_id}))
    assert ack == {"ok": True}
    assert named(people.ann.take(), "presence") == [gone]
    assert people.ben.take() == []  # out of the room: hears nothing more from it
    [row] = rows(app, LiveSocket, LiveSocket.sid == people.ben.sid)
    assert row.session_id is None
    # Leaving does not stop the clock of a live turn.
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.current_turn) == (
        "live",
        "teaching",
        0,
    )

    ok(people.ben.emit("join_session", {"session_id": session_id}))
    assert named(people.ann.take(), "presence") == [back]
    # A second tab of Ben's in the room: closing one tab is not leaving.
    tab = token_socket(world.ben)
    ok(tab.emit("join_session", {"session_id": session_id}))
    assert named(people.ann.take(), "presence") == [back]
    ok(people.ben.emit("leave_session", {"session_id": session_id}))
    assert named(people.ann.take(), "presence") == []
    tab_sid = tab.sid
    assert [r.session_id for r in rows(app, LiveSocket, LiveSocket.sid == tab_sid)] == [
        session_id
    ]
    tab.disconnect()
    assert named(people.ann.take(), "presence") == [gone]
    assert rows(app, LiveSocket, LiveSocket.sid == tab_sid) == []

    # Ann's connection drops: Ben's room learns it.
    ok(people.ben.emit("join_session", {"session_id": session_id}))
    people.ben.take()
    ann_sid = people.ann.sid
    assert len(rows(app, LiveSocket, LiveSocket.sid == ann_sid)) == 1
    people.ann.disconnect()
    assert named(people.ben.take(), "presence") == [
        {"session_id": session_id, "user_id": world.ann, "online": False}
    ]
    assert rows(app, LiveSocket, LiveSocket.sid == ann_sid) == []


# --- the authorization matrix -------------------------------------------------------

# state -> event -> (what the teacher of turn 0 gets, what its listener gets).
# Ann teaches turn 0 and Ben turn 1 of a 2-turn session; the outsider always
# gets not_found. "waiting" is both partners present before the start time.
MATRIX: dict[str, dict[str, tuple[str, str]]] = {
    "waiting": {
        "join_session": ("ok", "ok"),
        "leave_session": ("ok", "ok"),
        "set_topic": ("ok", "ok"),  # turn 0 for Ann, turn 1 for Ben
        "signal": ("wrong_phase", "wrong_phase"),
        "finish_turn": ("wrong_phase", "wrong_phase"),
        "rate": ("forbidden", "wrong_phase"),
        "summary": ("wrong_phase", "forbidden"),
        "self_rate": ("wrong_phase", "forbidden"),
    },
    "teaching": {
        "join_session": ("ok", "ok"),
        "leave_session": ("ok", "ok"),
        "set_topic": ("ok", "ok"),  # the current turn, and the listener's next
        "signal": ("forbidden", "ok"),
        "finish_turn": ("ok", "forbidden"),
        "rate": ("forbidden", "wrong_phase"),
        "summary": ("wrong_phase", "forbidden"),
        # DESIGN §6: once, "before the listener's rating is shown".
        "self_rate": ("ok", "forbidden"),
    },
    "rating": {
        "join_session": ("ok", "ok"),
        "leave_session": ("ok", "ok"),
        # Ann taught the last of her turns; Ben teaches the next one.
        "set_topic": ("forbidden", "ok"),
        "signal": ("wrong_phase", "wrong_phase"),
        "finish_turn": ("wrong_phase", "wrong_phase"),
        "rate": ("forbidden", "ok"),
        "summary": ("ok", "forbidden"),
        "self_rate": ("ok", "forbidden"),
    },
}


def enter(state: str, world: World, people: SimpleNamespace) -> int:
    if state == "waiting":
        session_id = new_session(world, starts_in=LONG)
        ok(people.ann.emit("join_session", {"session_id": session_id}))
        ok(people.ben.emit("join_session", {"session_id": session_id}))
    elif state == "teaching":
        session_id = new_session(world)
        start_teaching(people, session_id)
    else:
        session_id = new_session(world)
        start_rating(people, session_id)
    for sock in (people.ann, people.ben, people.cara):
        sock.take()
    return session_id


@pytest.mark.parametrize(
    ("state", "event"),
    [pytest.param(s, e, id=f"{s}-{e}") for s in MATRIX for e in EVENTS],
)
def test_who_may_send_each_event_in_each_phase(app, world, people, state, event):
    session_id = enter(state, world, people)
    cara_session = new_session(world, teacher="cara")
    people.cara.take()
    teacher, listener = MATRIX[state][event]
    payload = valid(event, session_id)
    outsider_ack = assert_refused(
        app, people.cara, event, (payload,), "not_found", (people.ann, people.ben)
    )
    assert outsider_ack["message"] == "No such session."
    # The outsider's connection still works: her own room opens.
    ok(people.cara.emit("join_session", {"session_id": cara_session}))

    actors = [(people.ann, teacher), (people.ben, listener)]
    # Refusals first (they must leave the state as it is), then the accepted.
    for sock, expected in sorted(actors, key=lambda a: a[1] == "ok"):
        if expected == "ok":
            ack = ok(sock.emit(event, payload))
            assert "error" not in ack
        else:
            partner = people.ben if sock is people.ann else people.ann
            assert_refused(app, sock, event, (payload,), expected, (partner,))
            # The connection stays usable: a valid event right after succeeds.
            ok(sock.emit("join_session", {"session_id": session_id}))


@pytest.mark.parametrize("event", EVENTS)
def test_an_outsider_learns_nothing_about_a_session(app, world, people, event):
    session_id = new_session(world)
    start_teaching(people, session_id)
    people.cara.take()
    real = assert_refused(
        app,
        people.cara,
        event,
        (valid(event, session_id),),
        "not_found",
        (people.ann, people.ben),
    )
    missing = assert_refused(
        app, people.cara, event, (valid(event, MISSING_SESSION),), "not_found"
    )
    assert real == missing  # the same answer, word for word
    # A member asking about a session that does not exist gets the same too.
    member = assert_refused(
        app, people.ann, event, (valid(event, MISSING_SESSION),), "not_found"
    )
    assert member == missing


def test_an_anonymous_client_can_send_nothing(app, world, sockets):
    session_id = new_session(world)
    before = dump(app)
    anonymous = sockets(app.test_client())
    assert not anonymous.connected
    for event in EVENTS:
        with pytest.raises(RuntimeError, match="not connected"):
            anonymous.emit(event, valid(event, session_id))
    assert dump(app) == before


@pytest.mark.parametrize("event", EVENTS)
def test_a_socket_whose_login_has_ended_is_refused(app, world, people, event):
    session_id = new_session(world)
    start_rating(people, session_id)
    # As a password change or "log out everywhere" would, without the
    # disconnect that normally follows: the socket is still open.
    for user_id in (world.ann, world.ben):
        change(app, User, user_id, auth_version=User.auth_version + 1)
    for sock in (people.ann, people.ben):
        assert_refused(
            app,
            sock,
            event,
            (valid(event, session_id),),
            "forbidden",
            (people.ann, people.ben),
        )
        assert sock.connected


# --- payload validation ------------------------------------------------------------


class _Missing:
    """A field left out of the payload."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


NOT_OBJECTS: list[tuple] = [
    (),  # no payload at all
    (None,),
    ("session",),
    ([1, 2],),
    (7,),
    (3.5,),
    (True,),
]
BAD_SESSION_IDS: list[Any] = ["1", 1.0, True, None, [1], {"id": 1}]
BAD_SIMPLICITY: list[Any] = [0, 6, -1, 3.0, 4.5, "3", True, False, None, [3]]
BAD_TURN: list[Any] = [-1, 2, 99, "0", 0.0, True, None, [0]]

# event -> (state it is valid in, who sends it, the invalid field values)
VALIDATION: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    "join_session": ("teaching", "ben", []),
    "leave_session": ("teaching", "ben", []),
    "finish_turn": ("teaching", "ann", []),
    "set_topic": (
        "teaching",
        "ann",
        [
            {"title": "x" * 121},
            {"title": ""},
            {"title": " \t\n "},
            {"title": None},
            {"title": 42},
            {"title": ["RAAS"]},
            {"title": MISSING},
        ],
    ),
    "signal": (
        "teaching",
        "ben",
        [
            {"kind": "confused"},
            {"kind": "JARGON"},
            {"kind": ""},
            {"kind": None},
            {"kind": 1},
            {"kind": ["jargon"]},
            {"kind": MISSING},
            {"word": "w" * 41},
            {"word": 5},
            {"word": ["renin"]},
        ],
    ),
    "rate": (
        "rating",
        "ben",
        [
            *({"simplicity": v} for v in [*BAD_SIMPLICITY, MISSING]),
            *({"turn": v} for v in [*BAD_TURN, MISSING]),
            {"note": "n" * 1001},
            {"note": 5},
            {"note": ["a note"]},
            {"jargon": "renin"},
            {"jargon": {"renin": 1}},
            {"jargon": 3},
            {"jargon": [f"word{i}" for i in range(21)]},
            {"jargon": ["j" * 41]},
            {"jargon": [5]},
            {"jargon": [None]},
            {"jargon": [""]},
        ],
    ),
    "summary": (
        "rating",
        "ann",
        [
            {"text": "t" * 601},
            {"text": ""},
            {"text": "   "},
            {"text": None},
            {"text": 12},
            {"text": MISSING},
            *({"turn": v} for v in [*BAD_TURN, MISSING]),
        ],
    ),
    "self_rate": (
        "rating",
        "ann",
        [
            *({"simplicity": v} for v in [*BAD_SIMPLICITY, MISSING]),
            *({"turn": v} for v in [*BAD_TURN, MISSING]),
        ],
    ),
}


def with_fields(base: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    return {k: v for k, v in merged.items() if v is not MISSING}


@pytest.mark.parametrize("event", EVENTS)
def test_a_bad_payload_is_invalid_writes_nothing_and_the_socket_goes_on(
    app, world, people, event
):
    state, actor, bad_fields = VALIDATION[event]
    if state == "teaching":
        session_id = new_session(world)
        start_teaching(people, session_id)
    else:
        session_id = new_session(world)
        start_rating(people, session_id)
    sock = getattr(people, actor)
    partner = people.ben if actor == "ann" else people.ann
    base = valid(event, session_id)

    cases: list[tuple] = [*NOT_OBJECTS, (base, "extra"), (base, base)]
    cases += [(with_fields(base, {"session_id": v}),) for v in BAD_SESSION_IDS]
    cases.append((with_fields(base, {"session_id": MISSING}),))
    cases += [(with_fields(base, fields),) for fields in bad_fields]
    for args in cases:
        assert_refused(app, sock, event, args, "invalid", (partner,))
    # The very same socket, with the well-formed payload: accepted.
    ok(sock.emit(event, base))


def test_the_upper_bounds_are_inclusive_and_text_is_folded(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    title = "T" * 120
    assert ok(people.ann.emit("set_topic", {"session_id": session_id, "title": title}))
    assert turn_row(app, session_id, 0).topic == title
    ack = ok(
        people.ben.emit(
            "signal", {"session_id": session_id, "kind": "jargon", "word": "w" * 40}
        )
    )
    assert ack["signal"]["word"] == "w" * 40
    ack = ok(
        people.ben.emit(
            "signal",
            {"session_id": session_id, "kind": "lost", "word": "  macula \n densa "},
        )
    )
    assert ack["signal"]["word"] == "macula densa"
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    jargon = [f"{i:02d}" + "j" * 38 for i in range(20)]
    rating = {
        "session_id": session_id,
        "turn": 0,
        "simplicity": 1,
        "note": "n" * 1000,
        "jargon": jargon,
    }
    ack = ok(people.ben.emit("rate", rating))
    assert (ack["rating"]["note"], ack["rating"]["jargon"]) == ("n" * 1000, jargon)
    text = "s" * 600
    ack = ok(
        people.ann.emit("summary", {"session_id": session_id, "turn": 0, "text": text})
    )
    assert ack["summary"] == text
    stored = turn_row(app, session_id, 0)
    assert stored.summary == text
    [row] = rows(app, Rating, Rating.session_id == session_id)
    assert (row.simplicity, row.note, row.jargon) == (1, "n" * 1000, jargon)
    # Both ends of 1–5 are accepted (the listener gave 1; the teacher gives 5).
    ok(
        people.ann.emit(
            "self_rate", {**valid("self_rate", session_id), "simplicity": 5}
        )
    )
    assert turn_row(app, session_id, 0).self_simplicity == 5


# --- the rules of each event ----------------------------------------------------


def test_set_topic_names_the_current_or_the_next_turn_of_its_teacher(
    app, world, people
):
    session_id = new_session(world, turns=4)
    # Waiting: each partner names their first turn (Ann 0, Ben 1).
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    ack = ok(people.ann.emit("set_topic", {"session_id": session_id, "title": "RAAS"}))
    assert ack == {"ok": True, "turn": 0, "topic": "RAAS"}
    ack = ok(
        people.ben.emit(
            "set_topic", {"session_id": session_id, "title": "  Frank–Starling  law "}
        )
    )
    assert ack == {"ok": True, "turn": 1, "topic": "Frank–Starling law"}
    people.ann.take()
    ok(people.ben.emit("join_session", {"session_id": session_id}))
    people.ben.take()
    [state] = named(people.ann.take(), "session_state")
    assert [t["topic"] for t in state["turns"]] == [
        "RAAS",
        "Frank–Starling law",
        None,
        None,
    ]
    # Teaching turn 0: Ann renames it, and the room sees the new title.
    ack = ok(
        people.ann.emit("set_topic", {"session_id": session_id, "title": "RAAS, again"})
    )
    assert (ack["turn"], ack["topic"]) == (0, "RAAS, again")
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert state["turns"][0]["topic"] == "RAAS, again"
    assert turn_row(app, session_id, 0).topic == "RAAS, again"

    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    ok(people.ben.emit("rate", valid("rate", session_id, turn=0)))
    # Ben teaches turn 1 (the current one); Ann's next turn is 2.
    ack = ok(people.ann.emit("set_topic", {"session_id": session_id, "title": "ADH"}))
    assert (ack["turn"], ack["topic"]) == (2, "ADH")
    ack = ok(
        people.ben.emit("set_topic", {"session_id": session_id, "title": "Preload"})
    )
    assert ack["turn"] == 1
    assert [turn_row(app, session_id, i).topic for i in (0, 1, 2)] == [
        "RAAS, again",
        "Preload",
        "ADH",
    ]


def test_set_topic_is_refused_after_its_teachers_last_turn_and_when_over(
    app, world, people
):
    session_id = new_session(world)  # 2 turns: Ann 0, Ben 1
    start_teaching(people, session_id)
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    ok(people.ben.emit("rate", valid("rate", session_id, turn=0)))
    # Turn 1 is being taught by Ben: Ann teaches no current or next turn.
    topic = {"session_id": session_id, "title": "Late topic"}
    assert_refused(app, people.ann, "set_topic", (topic,), "forbidden", (people.ben,))
    ok(people.ben.emit("finish_turn", {"session_id": session_id}))
    # Ben's turn has finished teaching: too late to rename it.
    assert_refused(app, people.ben, "set_topic", (topic,), "forbidden", (people.ann,))
    ok(people.ann.emit("rate", valid("rate", session_id, turn=1)))
    assert load(app, TeachSession, session_id).status == "completed"
    for sock, partner in ((people.ann, people.ben), (people.ben, people.ann)):
        assert_refused(app, sock, "set_topic", (topic,), "wrong_phase", (partner,))


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


def stored_signals_unflushed(app: Flask, session_id: int) -> list[tuple]:
    """(kind, word) of the signal rows committed so far, without flushing."""
    with app.app_context():
        found = db.session.execute(
            select(Signal.kind, Signal.word)
            .where(Signal.session_id == session_id)
            .order_by(Signal.id)
        ).all()
        db.session.remove()
        return [tuple(row) for row in found]


def test_an_accepted_signal_is_committed_within_the_flush_interval(app, world, people):
    assert app.config["ALLY_SIGNAL_FLUSH_MS"] == 50
    session_id = new_session(world)
    start_teaching(people, session_id)
    ok(people.ben.emit("signal", {"session_id": session_id, "kind": "lost"}))
    # Nothing else happens: the flusher alone writes it, soon.
    deadline = time.monotonic() + 5
    while not stored_signals_unflushed(app, session_id):
        assert time.monotonic() < deadline, "the queued signal was never written"
        time.sleep(0.01)
    assert stored_signals_unflushed(app, session_id) == [("lost", None)]


def test_queued_signals_are_stored_before_anything_reads_them_or_ends_the_turn(
    app, world, people
):
    # A flush interval no test outlives: only the flushes before reads and
    # before other events can store these signals.
    app.config["ALLY_SIGNAL_FLUSH_MS"] = 600_000
    session_id = new_session(world)
    start_teaching(people, session_id)
    jargon = {"session_id": session_id, "kind": "jargon", "word": "preload"}
    ok(people.ben.emit("signal", jargon))
    ok(people.ben.emit("signal", {"session_id": session_id, "kind": "slower"}))
    assert stored_signals_unflushed(app, session_id) == []  # queued, not written

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

    # A signal right before the turn ends is counted in the turn's jargon flags.
    ok(people.ben.emit("signal", jargon))
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    ok(people.ben.emit("rate", {**valid("rate", session_id), "simplicity": 4}))
    with app.app_context():
        flags = db.session.scalar(
            select(Turn.jargon_flags).where(
                Turn.session_id == session_id, Turn.index == 0
            )
        )
        db.session.remove()
    assert flags == 2
    assert stored_signals_unflushed(app, session_id) == [
        ("jargon", "preload"),
        ("slower", None),
        ("jargon", "preload"),
    ]


def test_signals_are_limited_to_about_five_a_second(app, world, people, monkeypatch):
    session_id = new_session(world)
    start_teaching(people, session_id)
    clock = [1000.0]
    monkeypatch.setattr(room, "time", SimpleNamespace(monotonic=lambda: clock[0]))
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


def test_finish_turn_is_the_teachers_and_starts_the_rating_phase(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    finish = {"session_id": session_id}
    assert_refused(
        app, people.ben, "finish_turn", (finish,), "forbidden", (people.ann,)
    )
    version = load(app, TeachSession, session_id).version
    before = utcnow()
    ack = ok(people.ann.emit("finish_turn", finish))
    assert set(ack) == {"ok", "state"}
    session = load(app, TeachSession, session_id)
    assert (session.phase, session.current_turn, session.version) == (
        "rating",
        0,
        version + 1,
    )
    turn = turn_row(app, session_id, 0)
    assert before <= turn.teach_ends_at <= utcnow()  # teaching ended when told
    assert turn.rating_ends_at == turn.teach_ends_at + timedelta(seconds=LONG)
    assert session.phase_ends_at == turn.rating_ends_at
    check_snapshot(app, ack["state"], session_id, world)
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert (state["phase"], state["version"]) == ("rating", version + 1)
    # A second finish (a double click) is the wrong phase and changes nothing.
    assert_refused(
        app, people.ann, "finish_turn", (finish,), "wrong_phase", (people.ben,)
    )


def test_a_rating_is_given_once_and_moves_the_room_on(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    rating = {
        "session_id": session_id,
        "turn": 0,
        "simplicity": 4,
        "note": "  Lost me at the   kidney. ",
        "jargon": ["renin", " JG  cells ", "renin"],
    }
    # Not while the turn is being taught, and never by the teacher.
    assert_refused(app, people.ben, "rate", (rating,), "wrong_phase", (people.ann,))
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    people.ann.take(), people.ben.take()
    assert_refused(app, people.ann, "rate", (rating,), "forbidden", (people.ben,))

    ack = ok(people.ben.emit("rate", rating))
    expected = {
        "session_id": session_id,
        "turn": 0,
        "simplicity": 4,
        "note": "Lost me at the kidney.",
        "jargon": ["renin", "JG cells"],
    }
    assert ack == {"ok": True, "rating": expected}
    [row] = rows(app, Rating, Rating.session_id == session_id)
    assert (row.rater_id, row.teacher_id, row.simplicity, row.note, row.jargon) == (
        world.ben,
        world.ann,
        4,
        "Lost me at the kidney.",
        ["renin", "JG cells"],
    )
    assert row.turn_id == turn_row(app, session_id, 0).id
    # The rating ends the rating phase: turn 1 (Ben teaching) starts at once.
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.current_turn) == (
        "live",
        "teaching",
        1,
    )
    first, second = turn_row(app, session_id, 0), turn_row(app, session_id, 1)
    assert first.ended_at == first.rating_ends_at == second.started_at
    assert session.phase_ends_at == second.started_at + timedelta(seconds=LONG)
    ann_events = people.ann.take()
    for events in (ann_events, people.ben.take()):
        assert named(events, "rated") == [expected]
        [state] = named(events, "session_state")
        assert (state["phase"], state["turn"]) == ("teaching", 1)
        assert state["turns"][0]["simplicity"] == 4
    [note] = named(ann_events, "notification")
    assert (note["kind"], note["url"]) == (
        "rating_received",
        f"/sessions/{session_id}/summary",
    )
    assert "4" not in note["text"]  # the figure is not in the notification

    # The same rating again (a retry after a lost ack): ok, no second row.
    before = dump(app)
    again = ok(people.ben.emit("rate", rating))
    assert again == {"ok": True, "rating": expected}
    assert dump(app) == before
    assert people.ann.take() == [] and people.ben.take() == []
    # A different one is refused, whatever differs.
    for changed in (
        {"simplicity": 5},
        {"note": "Clear enough."},
        {"jargon": ["renin"]},
        {"jargon": MISSING, "note": MISSING},
    ):
        assert_refused(
            app,
            people.ben,
            "rate",
            (with_fields(rating, changed),),
            "already_rated",
            (people.ann,),
        )
    # Turn 1: Ben teaches it, so he cannot rate it; Ann rates after teaching.
    assert_refused(
        app,
        people.ben,
        "rate",
        (valid("rate", session_id, turn=1),),
        "forbidden",
        (people.ann,),
    )
    assert_refused(
        app,
        people.ann,
        "rate",
        (valid("rate", session_id, turn=1),),
        "wrong_phase",
        (people.ben,),
    )
    ok(people.ben.emit("finish_turn", {"session_id": session_id}))
    people.ann.take(), people.ben.take()
    ack = ok(people.ann.emit("rate", {**valid("rate", session_id, turn=1), "note": ""}))
    assert ack["rating"] == {
        "session_id": session_id,
        "turn": 1,
        "simplicity": 4,
        "note": "",
        "jargon": ["renin"],
    }
    # After the last turn's rating the session is completed.
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.current_turn) == (
        "completed",
        "done",
        2,
    )
    assert session.phase_ends_at is None
    assert session.ended_at == turn_row(app, session_id, 1).ended_at
    [state] = named(people.ben.take(), "session_state")
    assert (state["status"], state["phase"], state["phase_ends_at"]) == (
        "completed",
        "done",
        None,
    )
    assert [t["simplicity"] for t in state["turns"]] == [4, 4]
    assert len(rows(app, Rating, Rating.session_id == session_id)) == 2
    # Over: nothing moves any more.
    for event, sock in (("finish_turn", people.ben), ("signal", people.ann)):
        assert_refused(
            app, sock, event, (valid(event, session_id),), "wrong_phase", (people.ann,)
        )


def test_a_turn_left_unrated_at_its_deadline_can_no_longer_be_rated(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    # Teaching's deadline passes with no client doing anything: the job moves it.
    deadline = utcnow() - timedelta(seconds=1)
    change(app, TeachSession, session_id, phase_ends_at=deadline)
    assert run_job("advance_phases", utcnow()) == 1
    session = load(app, TeachSession, session_id)
    assert (session.phase, session.phase_ends_at) == (
        "rating",
        deadline + timedelta(seconds=LONG),
    )
    assert turn_row(app, session_id, 0).teach_ends_at == deadline
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert (state["phase"], utc(state["phase_ends_at"])) == (
            "rating",
            session.phase_ends_at,
        )
    # The rating deadline passes too: turn 1 starts, turn 0 stays unrated.
    rating_deadline = utcnow() - timedelta(seconds=1)
    change(app, TeachSession, session_id, phase_ends_at=rating_deadline)
    assert run_job("advance_phases", utcnow()) == 1
    session = load(app, TeachSession, session_id)
    assert (session.phase, session.current_turn) == ("teaching", 1)
    assert turn_row(app, session_id, 1).started_at == rating_deadline
    people.ann.take(), people.ben.take()
    assert_refused(
        app,
        people.ben,
        "rate",
        (valid("rate", session_id, turn=0),),
        "wrong_phase",
        (people.ann,),
    )
    assert rows(app, Rating, Rating.session_id == session_id) == []


def test_summary_and_self_rate_belong_to_the_turns_rating_time(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    summary = valid("summary", session_id, turn=0)
    self_rate = valid("self_rate", session_id, turn=0)
    # Not while teaching (the summary comes after, from memory).
    assert_refused(app, people.ann, "summary", (summary,), "wrong_phase", (people.ben,))
    # Nothing about a turn not taught yet.
    assert_refused(
        app,
        people.ben,
        "self_rate",
        (valid("self_rate", session_id, turn=1),),
        "wrong_phase",
        (people.ann,),
    )
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    people.ann.take(), people.ben.take()
    # Only that turn's teacher.
    assert_refused(app, people.ben, "summary", (summary,), "forbidden", (people.ann,))
    assert_refused(
        app, people.ben, "self_rate", (self_rate,), "forbidden", (people.ann,)
    )

    ack = ok(people.ann.emit("summary", summary))
    assert ack == {
        "ok": True,
        "session_id": session_id,
        "turn": 0,
        "summary": summary["text"],
    }
    turn = turn_row(app, session_id, 0)
    assert turn.summary == summary["text"] and turn.summary_at is not None
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert state["turns"][0]["summary"] == summary["text"]
    ack = ok(people.ann.emit("self_rate", self_rate))
    assert ack == {"ok": True, "session_id": session_id, "turn": 0, "simplicity": 3}
    assert turn_row(app, session_id, 0).self_simplicity == 3
    # Self-rating is once: the same again is fine, a different one is refused.
    ok(people.ann.emit("self_rate", self_rate))
    assert_refused(
        app,
        people.ann,
        "self_rate",
        ({**self_rate, "simplicity": 5},),
        "already_rated",
        (people.ben,),
    )

    # The listener's rating ends the phase early; the teacher keeps the rest of
    # the rating time to finish the summary.
    ok(people.ben.emit("rate", valid("rate", session_id, turn=0)))
    assert load(app, TeachSession, session_id).current_turn == 1
    revised = {**summary, "text": "Low pressure: the kidney releases renin."}
    ack = ok(people.ann.emit("summary", revised))
    assert turn_row(app, session_id, 0).summary == revised["text"]
    # Once the turn's rating time has run out, it is too late.
    turn = turn_row(app, session_id, 0)
    change(
        app,
        Turn,
        turn.id,
        teach_ends_at=utcnow() - timedelta(seconds=LONG + 5),
    )
    people.ann.take(), people.ben.take()
    assert_refused(app, people.ann, "summary", (summary,), "wrong_phase", (people.ben,))


def test_self_rating_closes_with_the_turns_rating_time(app, world, people):
    session_id = new_session(world)
    start_rating(people, session_id)
    ok(people.ben.emit("rate", valid("rate", session_id, turn=0)))
    turn = turn_row(app, session_id, 0)
    change(app, Turn, turn.id, teach_ends_at=utcnow() - timedelta(seconds=LONG + 5))
    people.ann.take(), people.ben.take()
    assert_refused(
        app,
        people.ann,
        "self_rate",
        (valid("self_rate", session_id, turn=0),),
        "wrong_phase",
        (people.ben,),
    )


def test_the_room_gets_the_state_on_every_change(app, world, people):
    session_id = new_session(world)

    def pushed_once() -> dict:
        """Both partners got exactly one snapshot, equal to the database."""
        ann, ben = (
            named(sock.take(), "session_state") for sock in (people.ann, people.ben)
        )
        assert (len(ann), len(ben)) == (1, 1), (ann, ben)
        assert ann == ben
        check_snapshot(app, ann[0], session_id, world)
        return ann[0]

    start_teaching(people, session_id)  # checked in the join test
    ok(people.ann.emit("set_topic", {"session_id": session_id, "title": "RAAS"}))
    assert pushed_once()["turns"][0]["topic"] == "RAAS"
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    assert pushed_once()["phase"] == "rating"
    ok(people.ann.emit("summary", valid("summary", session_id)))
    assert pushed_once()["turns"][0]["summary"] is not None
    ok(people.ben.emit("rate", valid("rate", session_id)))
    assert pushed_once()["turn"] == 1
    change(app, TeachSession, session_id, phase_ends_at=utcnow() - timedelta(seconds=1))
    run_job("advance_phases", utcnow())
    assert pushed_once()["phase"] == "rating"
    assert people.cara.take() == []  # not in the room


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


def test_an_id_too_large_for_the_database_is_not_found(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    for event in EVENTS:
        huge = valid(event, 2**63)
        assert_refused(app, people.ann, event, (huge,), "not_found", (people.ben,))
        ok(people.ann.emit("join_session", {"session_id": session_id}))


def test_presence_stays_true_to_a_socket_that_joins_a_second_session(
    app, world, people
):
    first = new_session(world)
    # Another room of the same pair: a meeting of their schedule (a second
    # extra session is refused while the first is under way).
    later = (utcnow() + timedelta(days=3)).date()
    second = schedule.ensure_session(world.ann, world.pair, later).id
    start_teaching(people, first)
    ok(people.ann.emit("join_session", {"session_id": second}))
    ben_events = people.ben.take()
    ok(people.ben.emit("signal", {"session_id": first, "kind": "lost"}))
    ann_heard_signal = bool(named(people.ann.take(), "signal"))
    state = ok(people.ben.emit("join_session", {"session_id": first}))["state"]
    ann_online = state["participants"][0]["online"]
    if ann_online:
        # One socket in two rooms: it still hears the first one.
        assert ann_heard_signal
    else:
        # One room per socket: the first room was told, and is not heard any more.
        assert {"session_id": first, "user_id": world.ann, "online": False} in named(
            ben_events, "presence"
        )
        assert not ann_heard_signal


# --- logins that end ----------------------------------------------------------------


def test_logout_closes_all_of_that_users_sockets(
    app, world, browser_for, sockets, token_socket
):
    session_id = new_session(world)
    browser = browser_for("ann@example.com")
    ann_cookie = sockets(browser.client)
    ann_token = token_socket(world.ann)
    ben = token_socket(world.ben)
    ok(ann_cookie.emit("join_session", {"session_id": session_id}))
    ok(ben.emit("join_session", {"session_id": session_id}))
    ben.take()
    assert ann_cookie.connected and ann_token.connected

    # Without the CSRF token the logout is refused and nothing closes.
    assert browser.client.post("/logout").status_code == 400
    assert ann_cookie.connected and ann_token.connected

    response = browser.post("/logout")
    assert response.status_code == 302
    assert not ann_cookie.connected
    assert not ann_token.connected
    assert ben.connected
    assert rows(app, LiveSocket, LiveSocket.user_id == world.ann) == []
    # Ben's room learns that Ann left.
    assert {
        "session_id": session_id,
        "user_id": world.ann,
        "online": False,
    } in named(ben.take(), "presence")
    # The logged-out browser can no longer open one.
    assert not sockets(browser.client).connected


def test_a_password_change_closes_the_users_sockets(
    app, world, browser_for, sockets, token_socket
):
    session_id = new_session(world)
    here = browser_for("ann@example.com")  # changes the password
    elsewhere = browser_for("ann@example.com")  # another device
    socket_here = sockets(here.client)
    socket_elsewhere = sockets(elsewhere.client)
    ben = token_socket(world.ben)
    ok(socket_elsewhere.emit("join_session", {"session_id": session_id}))
    version = load(app, User, world.ann).auth_version

    response = here.post(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert load(app, User, world.ann).auth_version == version + 1
    assert not socket_here.connected
    assert not socket_elsewhere.connected
    assert ben.connected
    assert rows(app, LiveSocket, LiveSocket.user_id == world.ann) == []
    # The browser that changed it stays logged in and connects again; the
    # other device's login has ended.
    again = sockets(here.client)
    assert again.connected
    assert not sockets(elsewhere.client).connected
    ok(again.emit("join_session", {"session_id": session_id}))


def test_a_wrong_current_password_closes_nothing(app, world, browser_for, sockets):
    browser = browser_for("ann@example.com")
    sock = sockets(browser.client)
    response = browser.post(
        "/account/password",
        {
            "current_password": "not my password",
            "new_password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 400
    assert sock.connected
    ok(sock.emit("join_session", {"session_id": new_session(world)}))


# --- origins ----------------------------------------------------------------------

POLL = "/socket.io/?EIO=4&transport=polling"


def handshake(client: FlaskClient, origin: str | None):
    """The first request of a polling Socket.IO client, from `origin`."""
    headers = {} if origin is None else {"Origin": origin}
    return client.get(POLL, headers=headers)


@pytest.fixture
def engineio_shutdown():
    """Close what an accepted handshake opens: its engine.io socket (whose ping
    thread then ends without sending) and the server's service thread."""
    apps: list[Flask] = []
    yield apps.append
    for application in apps:
        engine = application.wsgi_app.engineio_app.eio
        for opened in list(engine.sockets.values()):
            opened.close(wait=False, abort=True)  # no client will poll for more
        engine.sockets.clear()
        engine.shutdown()


def test_a_cross_origin_socket_is_refused(app, client, engineio_shutdown):
    engineio_shutdown(app)
    refused = handshake(client, "http://evil.example")
    assert refused.status_code == 400
    assert "sid" not in refused.get_data(as_text=True)
    # The same origin as the host (the test client's is http://localhost).
    accepted = handshake(client, "http://localhost")
    assert accepted.status_code == 200
    assert '"sid"' in accepted.get_data(as_text=True)
    # A non-browser client sends no Origin at all.
    assert handshake(client, None).status_code == 200


def test_a_configured_origin_is_accepted(make_app, engineio_shutdown):
    other = make_app(ALLY_SOCKET_ORIGINS="http://partner.example, https://app.example")
    engineio_shutdown(other)
    client = other.test_client()
    assert handshake(client, "http://partner.example").status_code == 200
    assert handshake(client, "https://app.example").status_code == 200
    assert handshake(client, "http://evil.example").status_code == 400


def test_configuring_extra_origins_keeps_the_sites_own_origin(
    make_app, engineio_shutdown
):
    other = make_app(ALLY_SOCKET_ORIGINS="http://partner.example")
    engineio_shutdown(other)
    client = other.test_client()
    assert handshake(client, "http://localhost").status_code == 200
