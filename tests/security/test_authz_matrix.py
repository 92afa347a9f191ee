"""The authorization matrix (issue 14): every route and socket event against
every actor, from the routing table and the Socket.IO handlers.

The table is tests/security/matrix.py; the seeded world tests/security/world.py.
Each cell runs on its own copy of the seeded database, so a write of one cell
never shapes another's answer. A refused cell (login page, 401, 404, another
4xx, a refused event) must write nothing; an outsider's or logged-out
caller's cell must leave every row of Ann's and Ben's as it was and show none
of Ann's private text; an API 404 for someone else's object must be the very
answer an id no row has gets (existence is never revealed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, url_for
from sqlalchemy import select

from ally.extensions import db, socketio
from ally.models import TeachSession, Turn, utcnow
from ally.services import accounts, schedule, tokens
from ally.services.call import signalling as call_signalling
from ally.services.room import signals as room_signals
from tests.security.matrix import (
    CONNECTED,
    EVENTS,
    FORBIDDEN,
    LOGIN,
    NOT_FOUND,
    OK,
    REFUSED,
    ROUTES,
    Answer,
    event_cells,
    http_cells,
)
from tests.security.world import (
    OWNER_EMAIL,
    OWNER_MARKERS,
    OWNER_NAME,
    OWNER_NOTE,
    OWNER_SUMMARY,
    OWNER_TOPIC,
    World,
    cell_app,
    client_with,
)
from tests.support.room import LONG, Sock, dump, is_refusal

SAFE = {"GET", "HEAD", "OPTIONS"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# Tables any request may touch whoever sends it (counters, heartbeats).
NOISE_TABLES = {"auth_attempts", "job_runs", "server_instances"}
LOGGED_OUT = ("anonymous", "old_cookie", "old_token")
UNKNOWN_ID = 987_654
NO_LOGIN = ("anonymous", "old_token")  # no login cookie: reads send no cookie


# --- the table covers exactly what the app serves -----------------------------------


def served_routes(app: Flask) -> set[tuple[str, str]]:
    """Every (endpoint, method) of the URL map, static files and HEAD/OPTIONS aside."""
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in SKIPPED_METHODS
    }


def served_events() -> dict[str, set[str]]:
    """Every Socket.IO handler of the current server, per namespace."""
    return {ns: set(handlers) for ns, handlers in socketio.server.handlers.items()}


def test_every_route_has_an_entry_and_every_entry_a_route(world: World, tmp_path: Path):
    app = cell_app(world, tmp_path)
    served = served_routes(app)
    missing = sorted(served - set(ROUTES))
    stale = sorted(set(ROUTES) - served)
    assert not missing, f"routes with no entry in tests/security/matrix.py: {missing}"
    assert not stale, f"entries in tests/security/matrix.py with no route: {stale}"


def test_every_event_has_an_entry_and_every_entry_an_event(
    world: World, tmp_path: Path
):
    cell_app(world, tmp_path)  # binds a fresh Socket.IO server with its handlers
    handlers = served_events()
    assert set(handlers) == {"/"}, f"namespaces the matrix does not cover: {handlers}"
    missing = sorted(handlers["/"] - set(EVENTS))
    stale = sorted(set(EVENTS) - handlers["/"])
    assert not missing, f"events with no entry in tests/security/matrix.py: {missing}"
    assert not stale, f"entries in tests/security/matrix.py with no handler: {stale}"


# --- reading the database -------------------------------------------------------------


def everything(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table (counters aside), read through a fresh session."""
    with app.app_context():
        found = {
            name: sorted(
                (tuple(r) for r in db.session.execute(select(table))), key=repr
            )
            for name, table in db.metadata.tables.items()
            if name not in NOISE_TABLES
        }
        db.session.remove()
    return found


def owned_rows(app: Flask, world: World) -> dict[str, list[tuple]]:
    """Every row that is Ann's or Ben's: naming either of them, their
    partnership, its sessions or their turns (found through the foreign keys)."""
    users = {world.owner, world.partner}
    with app.app_context():
        sessions = set(
            db.session.scalars(
                select(TeachSession.id).where(
                    TeachSession.partnership_id == world.partnership
                )
            )
        )
        turns = set(
            db.session.scalars(select(Turn.id).where(Turn.session_id.in_(sessions)))
        )
        keys = {
            "users": users,
            "partnerships": {world.partnership},
            "teach_sessions": sessions,
            "turns": turns,
        }
        found: dict[str, list[tuple]] = {}
        for name, table in db.metadata.tables.items():
            if name in NOISE_TABLES:
                continue
            tests = []
            for column in table.columns:
                targets = {fk.column.table.name for fk in column.foreign_keys}
                if column.primary_key and name in keys:
                    targets.add(name)
                for target in targets & set(keys):
                    tests.append(column.in_(keys[target]))
            if not tests:
                continue
            rows = db.session.execute(select(table).where(db.or_(*tests)))
            found[name] = sorted((tuple(r) for r in rows), key=repr)
        db.session.remove()
    return found


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- HTTP cells ---------------------------------------------------------------


def expected_answer(answer: Answer | str, api: bool) -> Answer:
    """LOGIN as the page or API answers it."""
    if answer == LOGIN:
        return Answer(401, error="unauthorized") if api else Answer(302, "/login")
    assert isinstance(answer, Answer)
    return answer


def request_for(
    world: World,
    app: Flask,
    endpoint: str,
    method: str,
    actor: str,
    unknown: bool = False,
):
    """The URL and the keyword arguments of the actor's request (`unknown`:
    every id in the URL replaced by one no row has)."""
    entry = ROUTES[(endpoint, method)]
    args = entry.args(world)
    if unknown:
        args = {k: UNKNOWN_ID if isinstance(v, int) else v for k, v in args.items()}
    with app.test_request_context():
        url = url_for(endpoint, **args, **entry.query)
    api = url.startswith("/api/")
    kwargs: dict[str, Any] = {"method": method}
    if method not in SAFE:
        if api:
            kwargs["headers"] = {"X-CSRFToken": world.csrf[actor]}
            kwargs["json"] = entry.json(world) if entry.json else None
        else:
            form = entry.form(world) if entry.form else {}
            kwargs["data"] = {**form, "csrf_token": world.csrf[actor]}
    return url, api, kwargs


def describe(response) -> str:
    body = response.get_data(as_text=True)
    return (
        f"{response.status_code} {response.headers.get('Location', '')} {body[:300]!r}"
    )


@pytest.mark.parametrize(("endpoint", "method", "actor"), http_cells())
def test_http_cell(
    world: World, tmp_path: Path, endpoint: str, method: str, actor: str
):
    entry = ROUTES[(endpoint, method)]
    app = cell_app(world, tmp_path)
    try:
        url, api, kwargs = request_for(world, app, endpoint, method, actor)
        # Anonymous reads send no cookie at all; its writes carry the CSRF token
        # of an anonymous session of its own.
        cookies = [] if actor in NO_LOGIN and method in SAFE else world.cookies[actor]
        if actor == "old_token":
            bearer = {"Authorization": f"Bearer {world.old_token_raw}"}
            kwargs["headers"] = {**kwargs.get("headers", {}), **bearer}
        client = client_with(app, cookies)
        expected = expected_answer(entry.answers[actor], api)
        before, owned_before = everything(app), owned_rows(app, world)

        response = client.open(url, **kwargs)

        cell = f"{method} {url} as {actor}: {describe(response)}"
        assert response.status_code == expected.status, cell
        if expected.to is not None:
            location = urlsplit(response.headers["Location"])
            assert location.netloc in ("", "localhost"), cell
            assert location.path.startswith(expected.to), cell
        if api and expected.status >= 400:
            body = response.get_json()
            assert body["error"] == (expected.error or body["error"]), cell
            assert body["message"], cell
        if expected.status >= 400 or entry.answers[actor] == LOGIN:
            assert everything(app) == before, f"{cell}: a refused request wrote"
        if api and actor in ("partner", "outsider") and expected == NOT_FOUND:
            # Someone else's object answers exactly as one that does not exist.
            url, _, kwargs = request_for(world, app, endpoint, method, actor, True)
            unknown = client.open(url, **kwargs)
            assert (unknown.status_code, unknown.get_json()) == (
                response.status_code,
                response.get_json(),
            ), f"{cell}: an unknown id answers {describe(unknown)}"
        if actor in ("outsider", *LOGGED_OUT) and entry.rule != "capability":
            assert owned_rows(app, world) == owned_before, f"{cell}: changed Ann's rows"
            text = response.get_data(as_text=True)
            leaked = [marker for marker in OWNER_MARKERS if marker in text]
            assert not leaked, f"{cell}: shows {leaked}"
    finally:
        dispose(app)


# --- socket cells -------------------------------------------------------------


class Room:
    """The cell's app, its session (Ann teaches turn 0), Ann's and Ben's sockets."""

    def __init__(self, world: World, directory: Path) -> None:
        self.world = world
        self.app = cell_app(
            world, directory, ALLY_MIN_TEACH_SECONDS=1, ALLY_MIN_RATE_SECONDS=1
        )
        # The limiters are per process and keyed by user id: fresh buckets.
        room_signals._buckets.clear()
        call_signalling._buckets.clear()
        call_signalling.forget_facts()
        with self.app.app_context():
            self.session_id = schedule.create_extra_session(
                world.owner,
                world.partnership,
                utcnow(),
                turns=2,
                teach_seconds=LONG,
                rate_seconds=LONG,
            ).id
            db.session.remove()
        self.opened: list[Sock] = []
        self.people: dict[str, Sock] = {}

    def socket(self, actor: str | None, auth: Any = None) -> Sock:
        """A Socket.IO test client holding the actor's cookies (None: none)."""
        cookies = self.world.cookies[actor] if actor else []
        with self.app.app_context():
            raw = socketio.test_client(
                self.app, flask_test_client=client_with(self.app, cookies), auth=auth
            )
        sock = Sock(self.app, raw)
        self.opened.append(sock)
        return sock

    def person(self, actor: str) -> Sock:
        if actor not in self.people:
            sock = self.socket(actor)
            assert sock.connected, f"{actor} could not connect"
            self.people[actor] = sock
        return self.people[actor]

    def set_up(self, phase: str) -> None:
        """Move the room to the entry's phase through Ann's and Ben's sockets."""
        if phase in ("none", "waiting"):
            return
        ann, ben = self.person("owner"), self.person("partner")
        join = {"session_id": self.session_id}
        assert ann.emit("join_session", join)["ok"]
        state = ben.emit("join_session", join)["state"]
        assert (state["phase"], state["turn"]) == ("teaching", 0), state
        if phase == "rating":
            state = ann.emit("finish_turn", join)["state"]
            assert state["phase"] == "rating", state
        ann.take(), ben.take()

    def log_out(self, actor: str) -> None:
        """Log the actor's cookie out through the logout form."""
        client = client_with(self.app, self.world.cookies[actor])
        response = client.post("/logout", data={"csrf_token": self.world.csrf[actor]})
        assert response.status_code == 302, response.status_code

    def revoke_token(self, token_id: int) -> None:
        """Ann revokes an API token of hers through the API."""
        client = client_with(self.app, self.world.cookies["owner"])
        response = client.delete(
            f"/api/v1/tokens/{token_id}",
            headers={"X-CSRFToken": self.world.csrf["owner"]},
        )
        assert response.status_code == 204, response.status_code

    def close(self) -> None:
        for sock in self.opened:
            if sock.connected:
                sock.disconnect()
        dispose(self.app)


@pytest.fixture
def room(world: World, tmp_path: Path):
    opened = Room(world, tmp_path)
    yield opened
    opened.close()


def assert_quiet(room: Room, before: dict, cell: str) -> None:
    """Nothing written, nothing pushed to Ann or Ben."""
    assert dump(room.app) == before, f"{cell}: a refused event wrote"
    for name, sock in room.people.items():
        if sock.connected:
            assert sock.take() == [], f"{cell}: {name} was sent something"


def ended_socket_cell(
    room: Room, event: str, actor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ann's sockets opened before she logged out (old_socket) or before she
    revoked their API token (old_token): the end closes them; one on a process
    whose close has not landed yet is refused `forbidden`; the ended login or
    token opens no new socket."""
    entry = EVENTS[event]
    auth = None
    if actor == "old_token":
        with room.app.app_context():
            token, raw = tokens.create_token(room.world.owner, "a script")
            token_id = token.id
            db.session.remove()
        auth = {"token": raw}
    cookie = "old_socket" if actor == "old_socket" else None
    closing, lagging = room.socket(cookie, auth), room.socket(cookie, auth)
    assert closing.connected and lagging.connected
    if event not in ("connect", "join_session"):
        join = {"session_id": room.session_id}
        assert closing.emit("join_session", join)["ok"]
        assert lagging.emit("join_session", join)["ok"]
    lagging_sid = lagging.sid
    for module in (accounts, tokens):
        real = module.disconnect_socket
        monkeypatch.setattr(
            module,
            "disconnect_socket",
            lambda sid, real=real: None if sid == lagging_sid else real(sid),
        )
    for sock in room.people.values():
        sock.take()

    if actor == "old_socket":
        room.log_out("old_socket")
    else:
        room.revoke_token(token_id)

    assert not closing.connected, f"{event} as {actor}: the socket stayed open"
    if event == "connect":
        assert not room.socket(cookie, auth).connected, f"{actor} opened a new socket"
        return
    lagging.take()
    for sock in room.people.values():
        sock.take()
    before = dump(room.app)
    ack = lagging.emit(event, entry.payload(room.session_id))
    cell = f"{event} as {actor}: {ack}"
    assert is_refusal(ack, FORBIDDEN), cell
    assert_quiet(room, before, cell)


@pytest.mark.parametrize(("event", "actor"), event_cells())
def test_event_cell(
    room: Room, event: str, actor: str, monkeypatch: pytest.MonkeyPatch
):
    entry = EVENTS[event]
    expected = entry.answers[actor]
    room.set_up(entry.phase)

    if actor in ("old_socket", "old_token"):
        ended_socket_cell(room, event, actor, monkeypatch)
        return
    if expected == REFUSED or (event == "connect" and expected == CONNECTED):
        before = dump(room.app)
        sockets = [room.socket(actor if actor != "anonymous" else None)]
        if actor == "anonymous":
            sockets.append(room.socket(None, auth={"token": "ally_not-a-token"}))
        for sock in sockets:
            assert sock.connected is (expected == CONNECTED), f"{event} as {actor}"
        if expected == REFUSED:
            assert_quiet(room, before, f"connect as {actor}")
        return

    sock = room.person(actor)
    sock.take()
    for other in room.people.values():
        other.take()
    before = dump(room.app)
    ack = sock.emit(event, entry.payload(room.session_id))
    cell = f"{event} as {actor}: {ack}"
    if expected == OK:
        assert isinstance(ack, dict) and ack.get("ok") is True, cell
    else:
        assert is_refusal(ack, expected), cell
        assert_quiet(room, before, cell)
        assert sock.connected, cell


def test_the_markers_show_where_ann_and_ben_may_see_them(world: World, tmp_path: Path):
    """The control for the leak check: Ann's private text does show on her own
    pages and on the session Ben shares, so its absence elsewhere means something."""
    app = cell_app(world, tmp_path)
    try:
        ann = client_with(app, world.cookies["owner"])
        ben = client_with(app, world.cookies["partner"])
        dashboard = ann.get("/").get_data(as_text=True)
        review = ann.get("/review").get_data(as_text=True)
        account = ann.get("/api/v1/me").get_data(as_text=True)
        summary = ben.get(f"/sessions/{world.past_session}/summary").get_data(
            as_text=True
        )
        assert OWNER_NAME in dashboard and OWNER_TOPIC in review
        assert OWNER_EMAIL in account
        assert OWNER_NOTE in summary and OWNER_SUMMARY in summary
    finally:
        dispose(app)
