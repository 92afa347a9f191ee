"""Logins that end on the server: logout, log out everywhere, revoked tokens,
and the limit on failed logins per account.

A saved copy of a cookie must not work once its login has ended, and a socket
opened through an ended login or token is closed (and refused should it still
send before the close lands).
"""

from __future__ import annotations

import pytest

from ally.models import ApiToken, Login, User
from ally.services import accounts, login_limits, tokens
from tests.conftest import PASSWORD, Browser
from tests.support.room import is_refusal, load, new_session, ok, rows

API = "/api/v1"


def copy_of(app, browser: Browser) -> Browser:
    """Another client holding a copy of the browser's cookies (a saved cookie)."""
    thief = Browser(app.test_client())
    for cookie in browser.client._cookies.values():
        thief.client.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    return thief


def logged_in(browser: Browser) -> bool:
    """Whether the browser's cookie opens the account page."""
    response = browser.client.get("/account")
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


# --- logout ---------------------------------------------------------------------


def test_a_saved_cookie_no_longer_works_after_logout(app, world, browser_for):
    browser = browser_for("ann@example.com")
    saved = copy_of(app, browser)
    assert logged_in(saved)

    assert browser.post("/logout").status_code == 302

    assert not logged_in(saved)
    assert saved.client.get(f"{API}/me").status_code == 401
    assert not logged_in(browser)


def test_a_saved_remember_cookie_no_longer_works_after_logout(app, world, browser_for):
    browser = Browser(app.test_client())
    assert browser.login("ann@example.com", remember="y").status_code == 302
    remember = browser.client.get_cookie("remember_token").value
    saved = Browser(app.test_client())
    saved.client.set_cookie("remember_token", remember)
    assert logged_in(saved)  # the remember cookie alone logs in

    browser.post("/logout")

    fresh = Browser(app.test_client())
    fresh.client.set_cookie("remember_token", remember)
    assert not logged_in(fresh)


def test_logout_ends_only_that_login(app, world, browser_for):
    laptop = browser_for("ann@example.com")
    phone = browser_for("ann@example.com")
    assert rows(app, Login, Login.user_id == world.ann).__len__() == 2

    laptop.post("/logout")

    assert not logged_in(laptop)
    assert logged_in(phone)
    assert len(rows(app, Login, Login.user_id == world.ann)) == 1


def test_the_login_cookie_stores_no_secret_the_database_holds(app, world, browser_for):
    browser = browser_for("ann@example.com")
    with browser.client.session_transaction() as session:
        user_id, secret = session["_user_id"].split(":")
    assert int(user_id) == world.ann
    [login] = rows(app, Login, Login.user_id == world.ann)
    assert secret not in login.key_hash  # only its SHA-256 is stored


def test_an_old_socket_is_closed_by_logout(app, world, browser_for, sockets):
    browser = browser_for("ann@example.com")
    sock = sockets(browser.client)
    ok(sock.emit("join_session", {"session_id": new_session(world)}))
    saved = copy_of(app, browser)

    browser.post("/logout")

    assert not sock.connected
    # The saved cookie cannot open a new one either.
    assert not sockets(saved.client).connected


def test_a_socket_of_an_ended_login_is_refused_before_it_closes(
    app, world, browser_for, sockets, monkeypatch
):
    browser = browser_for("ann@example.com")
    sock = sockets(browser.client)
    # As on another process whose disconnect has not landed yet.
    monkeypatch.setattr(accounts, "disconnect_socket", lambda sid: None)

    browser.post("/logout")

    assert sock.connected
    ack = sock.emit("join_session", {"session_id": new_session(world)})
    assert is_refusal(ack, "forbidden"), ack


# --- log out everywhere --------------------------------------------------------------


def test_log_out_everywhere_ends_every_login_token_and_socket(
    app, world, browser_for, sockets, token_socket
):
    laptop = browser_for("ann@example.com")
    phone = browser_for("ann@example.com")
    laptop_socket = sockets(laptop.client)
    token_sock = token_socket(world.ann)
    _, raw = tokens.create_token(world.ann, "script")
    ben = token_socket(world.ben)
    saved = copy_of(app, phone)

    response = laptop.post("/account/logout-everywhere")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    for browser in (laptop, phone, saved):
        assert not logged_in(browser)
    assert not laptop_socket.connected and not token_sock.connected
    assert rows(app, ApiToken, ApiToken.user_id == world.ann) == []
    bearer = {"Authorization": f"Bearer {raw}"}
    assert app.test_client().get(f"{API}/me", headers=bearer).status_code == 401
    assert rows(app, Login, Login.user_id == world.ann) == []
    assert ben.connected  # someone else's


def test_log_out_everywhere_needs_the_csrf_token(app, world, browser_for):
    laptop = browser_for("ann@example.com")
    assert laptop.client.post("/account/logout-everywhere").status_code == 400
    assert logged_in(laptop)


def test_the_account_page_offers_log_out_everywhere(app, world, browser_for):
    page = browser_for("ann@example.com").client.get("/account").get_data(True)
    assert 'action="/account/logout-everywhere"' in page
    assert "Log out everywhere" in page


# --- API tokens ---------------------------------------------------------------------


def test_revoking_a_token_closes_its_sockets_only(app, world, sockets):
    token, raw = tokens.create_token(world.ann, "phone")
    _, other_raw = tokens.create_token(world.ann, "laptop")
    revoked = sockets(auth={"token": raw})
    kept = sockets(auth={"token": other_raw})
    assert revoked.connected and kept.connected

    tokens.revoke_token(world.ann, token.id)

    assert not revoked.connected
    assert kept.connected


def test_a_socket_of_a_revoked_token_is_refused_before_it_closes(
    app, world, sockets, monkeypatch
):
    token, raw = tokens.create_token(world.ann, "phone")
    sock = sockets(auth={"token": raw})
    monkeypatch.setattr(tokens, "disconnect_socket", lambda sid: None)

    tokens.revoke_token(world.ann, token.id)

    assert sock.connected
    ack = sock.emit("join_session", {"session_id": new_session(world)})
    assert is_refusal(ack, "forbidden"), ack


# --- failed logins per account -------------------------------------------------------


def fail_logins(app, email: str, times: int) -> None:
    """Wrong passwords for `email`, half through the page, half through the API."""
    for n in range(times):
        if n % 2:
            response = app.test_client().post(
                f"{API}/auth/token", json={"email": email, "password": "wrong guess"}
            )
            assert response.status_code == 401
        else:
            assert (
                Browser(app.test_client()).login(email, "wrong guess").status_code
                == 400
            )


@pytest.mark.parametrize("email", ["ann@example.com", "nobody@example.com"])
def test_ten_failed_logins_lock_the_account_for_a_while(app, world, email):
    fail_logins(app, email, login_limits.LOGIN_FAILURES)

    page = Browser(app.test_client()).login(email, PASSWORD)
    api = app.test_client().post(
        f"{API}/auth/token", json={"email": email, "password": PASSWORD}
    )

    # The same answers whether or not the account exists, even with the right
    # password (else the limit would only slow guessing down).
    assert page.status_code == 429
    assert login_limits.TOO_MANY_LOGINS in page.get_data(as_text=True)
    assert api.status_code == 429
    assert api.get_json() == {
        "error": "rate_limited",
        "message": login_limits.TOO_MANY_LOGINS,
    }
    # Another account is not affected.
    assert Browser(app.test_client()).login("ben@example.com").status_code == 302


def test_the_count_is_per_account_whatever_the_spelling(app, world):
    fail_logins(app, " ANN@example.com ", login_limits.LOGIN_FAILURES)
    assert Browser(app.test_client()).login("ann@example.com").status_code == 429


def test_a_success_starts_the_count_again(app, world):
    fail_logins(app, "ann@example.com", login_limits.LOGIN_FAILURES - 1)
    assert Browser(app.test_client()).login("ann@example.com").status_code == 302
    fail_logins(app, "ann@example.com", login_limits.LOGIN_FAILURES - 1)
    assert Browser(app.test_client()).login("ann@example.com").status_code == 302


def test_failures_older_than_the_window_do_not_count(app, world):
    from datetime import timedelta

    from ally.models import utcnow

    key = login_limits.account_key("ann@example.com")
    long_ago = utcnow() - login_limits.WINDOW - timedelta(seconds=1)
    for _ in range(login_limits.LOGIN_FAILURES):
        login_limits.login_failed(key, long_ago)
    assert Browser(app.test_client()).login("ann@example.com").status_code == 302


def test_a_changed_password_ends_the_other_logins_and_sockets(
    app, world, browser_for, sockets
):
    here = browser_for("ann@example.com")
    elsewhere = browser_for("ann@example.com")
    saved_here = copy_of(app, here)
    socket_elsewhere = sockets(elsewhere.client)
    before = load(app, User, world.ann).auth_version

    response = here.post(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )

    assert response.status_code == 302
    assert logged_in(here)  # a new login for the browser that changed it
    assert not logged_in(elsewhere)
    assert not logged_in(saved_here)  # a stolen copy of the old cookie too
    assert not socket_elsewhere.connected
    assert load(app, User, world.ann).auth_version == before + 1


def test_a_password_reset_ends_every_login_and_cookie_socket(
    app, world, browser_for, sockets
):
    from ally.models import utcnow
    from ally.services import password_reset

    browser = browser_for("ann@example.com")
    cookie_socket = sockets(browser.client)
    _, raw = tokens.create_token(world.ann, "phone")
    mail = password_reset.request_reset("ann@example.com", utcnow())

    password_reset.confirm_reset(mail.token, "a brand new passphrase", utcnow())

    assert not logged_in(browser)
    assert not cookie_socket.connected
    assert not sockets(browser.client).connected
    assert rows(app, Login, Login.user_id == world.ann) == []
    # API tokens stay valid (DESIGN §8): a socket opens with one again.
    assert sockets(auth={"token": raw}).connected
