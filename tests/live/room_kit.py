"""What the live room tests share: accounts made through the JSON API, extra
sessions, a python-socketio client that records what it receives, polling
for a state (never a fixed sleep), and two web processes sharing rooms
through Redis."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import create_engine, text

from tests.conftest import PASSWORD
from tests.support.live_server import LiveServer
from tests.support.services import fresh_postgres_database, require_redis

API = "/api/v1"
WAIT = 10.0  # generous: the box is shared; nothing here is a timing assertion
SERVER_EVENTS = ("session_state", "signal", "presence", "rated", "notification")
OVER = ("completed", "missed", "cancelled")


@dataclass
class Account:
    id: int
    token: str
    name: str


def api(
    server: LiveServer,
    method: str,
    path: str,
    token: str | None = None,
    json: Any = None,
    expect: int = 200,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(
        method, f"{server.url}{API}{path}", json=json, headers=headers, timeout=WAIT
    )
    assert response.status_code == expect, (method, path, response.text)
    return response.json()


def account(server: LiveServer, name: str) -> Account:
    """A new student `name` (e-mail <name>@example.com), free all day, with a token."""
    email = f"{name.lower()}@example.com"
    user = api(
        server,
        "POST",
        "/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "display_name": name,
            "timezone": "Europe/London",
        },
        expect=201,
    )
    token = api(
        server,
        "POST",
        "/auth/token",
        json={"email": email, "password": PASSWORD},
        expect=201,
    )["token"]
    api(
        server,
        "PATCH",
        "/me",
        token,
        json={"availability": [{"start": "00:00", "end": "23:30"}]},
    )
    return Account(user["id"], token, name)


def pair(server: LiveServer, first: str, second: str) -> tuple[Account, Account, int]:
    """Two new students paired through the JSON API; returns the partnership id."""
    one, two = account(server, first), account(server, second)
    sent = api(
        server,
        "POST",
        "/partner-requests",
        one.token,
        json={"to_user_id": two.id, "message": "Teach-back?"},
        expect=201,
    )
    accepted = api(server, "POST", f"/partner-requests/{sent['id']}/accept", two.token)
    return one, two, accepted["partnership"]["id"]


def partners(server: LiveServer) -> tuple[Account, Account, int]:
    """Ann and Ben, paired through the JSON API; returns the partnership id."""
    return pair(server, "Ann", "Ben")


def extra_session(
    server: LiveServer, creator: Account, pid: int, turns: int, teach: int, rate: int
) -> int:
    """An extra session now; its creator teaches first."""
    body = {"turns": turns, "teach_seconds": teach, "rate_seconds": rate}
    created = api(
        server, "POST", f"/partnerships/{pid}/sessions", creator.token, body, 201
    )
    return created["id"]


def stored(server: LiveServer, account: Account, session_id: int) -> dict:
    return api(server, "GET", f"/sessions/{session_id}", account.token)


def assert_clean_log(server: LiveServer) -> None:
    text = server.log_text()
    assert "Traceback" not in text, server.log_tail(120)
    assert " failed" not in text, server.log_tail(120)


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class RoomClient:
    """One python-socketio client over websocket that records what it receives.

    Handlers run on python-socketio's threads; everything received goes into
    `received` as (event, payload, wall-clock time) under a condition.
    """

    def __init__(
        self, server: LiveServer, account: Account, *, reconnection: bool = True
    ) -> None:
        self.server = server
        self.account = account
        self.session_id: int | None = None  # set once joined: rejoin on connect
        self.received: list[tuple[str, Any, float]] = []
        self.changed = threading.Condition()
        self.sio = socketio.Client(
            reconnection=reconnection,
            reconnection_delay=0.2,
            reconnection_delay_max=1,
            randomization_factor=0,
        )
        for name in SERVER_EVENTS:
            self.sio.on(name, partial(self._record, name))
        self.sio.on("connect", self._on_connect)

    def _record(self, name: str, payload: Any = None) -> None:
        with self.changed:
            self.received.append((name, payload, time.time()))
            self.changed.notify_all()

    def _on_connect(self) -> None:
        # After a drop python-socketio reconnects on its own; the room is
        # per-connection, so the client joins again (as the page does).
        if self.session_id is not None:
            self.sio.emit(
                "join_session",
                {"session_id": self.session_id},
                callback=partial(self._record, "rejoined"),
            )

    def connect(self) -> RoomClient:
        self.sio.connect(
            self.server.url,
            auth={"token": self.account.token},
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        return self

    def call(self, event: str, payload: dict) -> dict:
        ack = self.sio.call(event, payload, timeout=WAIT)
        assert isinstance(ack, dict), (event, ack)
        return ack

    def ok(self, event: str, payload: dict) -> dict:
        ack = self.call(event, payload)
        assert ack["ok"] is True, (self.account.name, event, payload, ack)
        return ack

    def send(self, event: str, payload: dict, on_ack: Callable[[Any], None]) -> None:
        """Emit without waiting; `on_ack` gets the ack when (if) it comes."""
        self.sio.emit(event, payload, callback=on_ack)

    def join(self, session_id: int) -> dict:
        state = self.ok("join_session", {"session_id": session_id})["state"]
        self.session_id = session_id
        self._record("joined", state)
        return state

    def events(self, name: str) -> list[Any]:
        with self.changed:
            return [payload for event, payload, _ in self.received if event == name]

    def states(self) -> list[dict]:
        return self.events("session_state")

    def latest_state(self) -> dict | None:
        """The newest snapshot seen (pushed or in the join ack), by version."""
        with self.changed:
            found = [
                payload
                for event, payload, _ in self.received
                if event in ("session_state", "joined")
            ]
        return max(found, key=lambda s: s["version"], default=None)

    def wait(self, what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Wait until check() (called under the lock) returns something truthy."""
        with self.changed:
            result = self.changed.wait_for(check, timeout)
        assert result, f"{self.account.name}: timed out waiting for {what}"
        return result

    def wait_count(self, name: str, count: int) -> list[Any]:
        """Wait until `count` events `name` have arrived; returns them all."""

        def enough():
            got = [p for e, p, _ in self.received if e == name]
            return got if len(got) >= count else None

        return self.wait(f"{count} x {name}", enough)

    def wait_event(
        self, names: tuple[str, ...], match: Callable[[Any], bool], timeout=WAIT
    ) -> tuple[Any, float]:
        """The first event (of any of `names`) whose payload matches, and when."""

        def found():
            for event, payload, at in self.received:
                if event in names and match(payload):
                    return payload, at
            return None

        return self.wait(f"{names} matching", found, timeout)

    def close(self) -> None:
        self.session_id = None
        websocket = self.sio.eio.ws
        self.sio.disconnect()
        if websocket is not None:
            # A server killed mid-connection sent no close frame, so the
            # client never closed its socket: close it now, without a handshake.
            websocket.shutdown()


def close_all(clients: list[RoomClient]) -> None:
    """Disconnect clients in parallel (a websocket close may wait for the
    server's close frame for a few seconds)."""
    closing = [threading.Thread(target=client.close) for client in clients]
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join()


def move_ids_away(database_url: str) -> None:
    """Start user and session ids at a random height.

    Every process on a Redis message queue shares one channel, and another
    test's servers may be using the same Redis: with ids no one else has,
    their rooms' events never look like this test's.
    """
    engine = create_engine(database_url)
    start = 1_000_000 + secrets.randbelow(1_000_000_000)
    try:
        with engine.begin() as connection:
            for table in ("users", "partnerships", "teach_sessions"):
                sequence = connection.execute(
                    text("SELECT pg_get_serial_sequence(:table, 'id')"),
                    {"table": table},
                ).scalar_one()
                connection.execute(text(f"ALTER SEQUENCE {sequence} RESTART {start}"))
    finally:
        engine.dispose()


@contextmanager
def two_web_processes(
    log_dir, settings: dict[str, str]
) -> Iterator[tuple[LiveServer, LiveServer, str]]:
    """Two `python app.py` (gevent, no scheduler) on a fresh PostgreSQL
    database and the test Redis, started; (first, second, database URL)."""
    redis_url = require_redis()
    with fresh_postgres_database() as database_url:
        env = {
            "DATABASE_URL": database_url,
            "SOCKETIO_MESSAGE_QUEUE": redis_url,
            "ALLY_ASYNC_MODE": "gevent",
            "ALLY_SCHEDULER": "off",
            "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
            **settings,
        }
        first = LiveServer(env, log_path=log_dir / "first.log")
        second = LiveServer(env, log_path=log_dir / "second.log")
        try:
            first.start()  # it migrates the database
            move_ids_away(database_url)
            second.start()
            yield first, second, database_url
        finally:
            first.stop()
            second.stop()
