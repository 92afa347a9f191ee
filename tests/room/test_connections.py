"""Connecting to the room: who may open a socket, and when it closes.

A socket opens only for a logged-in user (the Flask-Login cookie or an API
token in `auth`) and from an allowed origin (DESIGN §6); a logout closes the
sockets of that login, a password change every socket of the user.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ally.models import LiveSocket, User
from ally.services import notifications, tokens
from tests.conftest import PASSWORD
from tests.support.room import dump, load, named, new_session, ok, rows


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


# --- logins that end ---------------------------------------------------------------


def test_logout_closes_the_sockets_of_that_login(
    app, world, browser_for, sockets, token_socket
):
    session_id = new_session(world)
    browser = browser_for("ann@example.com")
    ann_cookie = sockets(browser.client)
    ann_elsewhere = sockets(browser_for("ann@example.com").client)  # another device
    ann_token = token_socket(world.ann)
    ben = token_socket(world.ben)
    ok(ann_cookie.emit("join_session", {"session_id": session_id}))
    ok(ben.emit("join_session", {"session_id": session_id}))
    ben.take()
    assert ann_cookie.connected and ann_token.connected

    # Without the CSRF token the logout is refused and nothing closes.
    assert browser.client.post("/logout").status_code == 400
    assert ann_cookie.connected and ann_token.connected
    closed_sid = ann_cookie.sid

    response = browser.post("/logout")
    assert response.status_code == 302
    assert not ann_cookie.connected
    # Ann's other logins and her API token are not this login.
    assert ann_elsewhere.connected and ann_token.connected
    assert ben.connected
    assert rows(app, LiveSocket, LiveSocket.sid == closed_sid) == []
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


FORWARDED_PROTO = {"X-Forwarded-Proto": "https"}
FORWARDED = {"X-Forwarded-Host": "ally.example", **FORWARDED_PROTO}


def test_forwarded_headers_are_not_believed_without_a_trusted_proxy(
    app, client, engineio_shutdown
):
    engineio_shutdown(app)
    # Any client can write X-Forwarded-*: with no proxy configured they are
    # only words, and a page on ally.example is another origin.
    refused = client.get(POLL, headers={"Origin": "https://ally.example", **FORWARDED})
    assert refused.status_code == 400
    assert client.get("/login", headers=FORWARDED).request.host == "localhost"


def test_forwarded_headers_are_believed_behind_the_configured_proxy(
    make_app, engineio_shutdown
):
    other = make_app(ALLY_TRUSTED_PROXIES=1)
    engineio_shutdown(other)
    client = other.test_client()
    accepted = client.get(POLL, headers={"Origin": "https://ally.example", **FORWARDED})
    assert accepted.status_code == 200
    # Only the last proxy's word counts: a client-written value before it is not.
    two = {"X-Forwarded-Host": "evil.example, ally.example", **FORWARDED_PROTO}
    evil = client.get(POLL, headers={"Origin": "https://evil.example", **two})
    assert evil.status_code == 400
