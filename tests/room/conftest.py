"""Fixtures of the room protocol tests: the people, their sockets, their logins.

The builders (payloads, reads, the snapshot check) are in tests/support/room.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from ally.extensions import socketio
from ally.models import user as user_model
from ally.services import tokens
from ally.services.call import signalling as call_signalling
from ally.services.room import signals as room_signals
from tests.conftest import Browser, IsolatedClient
from tests.support.room import Sock, World


@pytest.fixture(autouse=True)
def room_app(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Flask:
    app.test_client_class = IsolatedClient
    app.config.update(ALLY_MIN_TEACH_SECONDS=1, ALLY_MIN_RATE_SECONDS=1)
    # The signal limiter is per process and keyed by user id; ids repeat from
    # one test's database to the next, so each test starts with full buckets.
    room_signals._buckets.clear()
    call_signalling._buckets.clear()
    call_signalling.forget_facts()
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


@pytest.fixture
def world(make_user, make_partnership) -> World:
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    cara = make_user("cara@example.com", display_name="Cara")
    dan = make_user("dan@example.com", display_name="Dan")
    pair = make_partnership(ann, ben)
    other = make_partnership(cara, dan)
    return World(ann.id, ben.id, cara.id, dan.id, pair.id, other.id)


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
