"""Account pages: register, log in and out, change password, delete the account."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import ApiToken, Partnership, Profile, Topic, User
from ally.services import tokens
from tests.conftest import PASSWORD, Browser

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")


def new_browser(app) -> Browser:
    """Another browser with its own cookies."""
    return Browser(app.test_client())


def count(model, *where) -> int:
    """Rows of a model matching the conditions, read fresh from the database."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def field_error(html: str, field_id: str) -> str:
    """The error message shown beside a form field."""
    match = re.search(
        rf'<small id="{field_id}-help" class="error">([^<]*)</small>', html
    )
    assert match, f"no error shown beside {field_id}"
    return match.group(1)


def register(browser: Browser, **fields):
    token = browser.csrf("/register")
    data = {
        "email": "ana@example.com",
        "display_name": "Ana",
        "timezone": "Europe/Lisbon",
        "password": PASSWORD,
        "confirm": PASSWORD,
        **fields,
    }
    return browser.client.post("/register", data={**data, "csrf_token": token})


# --- register ------------------------------------------------------------------


def test_register_normalizes_email_logs_in_and_opens_the_profile(app, browser_client):
    response = register(browser_client, email=" Ana@Example.COM ")

    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"
    user = db.session.scalar(select(User))
    assert user.email == "ana@example.com"
    assert user.display_name == "Ana"
    assert user.timezone == "Europe/Lisbon"
    assert user.password_hash.startswith("scrypt:")
    assert count(Profile, Profile.user_id == user.id) == 1
    page = browser_client.client.get("/")
    assert page.status_code == 200
    assert "Hi, Ana" in text_of(page)


def test_register_refuses_a_duplicate_email_with_a_message(
    app, make_user, browser_client
):
    make_user("ana@example.com")

    response = register(browser_client, email="ANA@example.com ")

    assert response.status_code == 400
    assert field_error(text_of(response), "email") == (
        "An account with that email already exists."
    )
    assert count(User) == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("a" * 3 + "bcdxy!", None),  # 9 characters: accepted (control)
        ("abcdxy!", "Field must be between 8 and 128 characters long."),
        ("ab" * 64 + "c", "Field must be between 8 and 128 characters long."),
        ("password123", "That password is too common; choose another."),
        ("ana@example.com", "Your password cannot be your email address."),
        ("ANA@example.com", "Your password cannot be your email address."),
    ],
)
def test_register_password_rules(app, browser_client, password, message):
    response = register(browser_client, password=password, confirm=password)

    if message is None:
        assert response.status_code == 302
        assert count(User) == 1
        return
    assert response.status_code == 400
    assert field_error(text_of(response), "password") == message
    assert count(User) == 0
    assert count(Profile) == 0


def test_register_refuses_an_unknown_time_zone(app, browser_client):
    response = register(browser_client, timezone="Mars/Olympus")

    assert response.status_code == 400
    assert "is not a known time zone" in field_error(text_of(response), "timezone")
    assert count(User) == 0


def test_register_refuses_different_confirmation(app, browser_client):
    response = register(browser_client, confirm=PASSWORD + "x")

    assert response.status_code == 400
    assert field_error(text_of(response), "confirm") == "The passwords differ."
    assert count(User) == 0


# --- log in and out --------------------------------------------------------------


def test_login_without_remember_sets_no_remember_cookie(app, make_user, browser_client):
    make_user("ana@example.com")

    response = browser_client.login(" ANA@example.com")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert browser_client.client.get_cookie("remember_token") is None
    assert "Hi, " in text_of(browser_client.client.get("/"))


def test_login_with_remember_sets_the_remember_cookie(app, make_user, browser_client):
    make_user("ana@example.com")

    response = browser_client.login("ana@example.com", remember="y")

    assert response.status_code == 302
    cookie = browser_client.client.get_cookie("remember_token")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.expires is not None


def test_remember_cookie_logs_back_in_after_the_session_ends(
    app, make_user, browser_client
):
    make_user("ana@example.com")
    browser_client.login("ana@example.com", remember="y")
    browser_client.client.delete_cookie("session")

    assert browser_client.client.get("/account").status_code == 200


def test_logout_is_post_only(app, make_user, browser_client):
    make_user("ana@example.com")
    browser_client.login("ana@example.com")

    assert browser_client.client.get("/logout").status_code == 405
    assert browser_client.client.get("/account").status_code == 200  # still in

    response = browser_client.post("/logout")
    assert response.status_code == 302
    after = browser_client.client.get("/account")
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/login?next=")


def test_logout_also_ends_the_remember_cookie(app, make_user, browser_client):
    make_user("ana@example.com")
    browser_client.login("ana@example.com", remember="y")

    browser_client.post("/logout")

    assert browser_client.client.get_cookie("remember_token") is None
    assert browser_client.client.get("/account").status_code == 302


# --- change password -------------------------------------------------------------


def change_password(browser: Browser, current: str, new: str, confirm=None):
    return browser.post(
        "/account/password",
        {
            "current_password": current,
            "new_password": new,
            "confirm": new if confirm is None else confirm,
        },
    )


def test_change_password_refuses_a_wrong_current_password(
    app, make_user, browser_client
):
    user = make_user("ana@example.com")
    old_hash = user.password_hash
    browser_client.login("ana@example.com")

    response = change_password(browser_client, "not my password", "a new passphrase")

    assert response.status_code == 400
    assert field_error(text_of(response), "current_password") == (
        "Your current password is not right."
    )
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == old_hash


def test_change_password_refuses_a_common_new_password(app, make_user, browser_client):
    user = make_user("ana@example.com")
    old_hash = user.password_hash
    browser_client.login("ana@example.com")

    response = change_password(browser_client, PASSWORD, "password123")

    assert response.status_code == 400
    assert "too common" in text_of(response)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == old_hash


def test_change_password_keeps_this_browser_and_ends_other_logins(
    app, make_user, browser_client
):
    user = make_user("ana@example.com")
    other = new_browser(app)
    assert other.login("ana@example.com").status_code == 302
    remembered = new_browser(app)
    remembered.login("ana@example.com", remember="y")
    assert other.client.get("/account").status_code == 200
    browser_client.login("ana@example.com")

    response = change_password(browser_client, PASSWORD, "a brand new passphrase")

    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert browser_client.client.get("/account").status_code == 200
    ended = other.client.get("/account")
    assert ended.status_code == 302
    assert ended.headers["Location"].startswith("/login")
    # A remember cookie from before the change does not log back in either.
    remembered.client.delete_cookie("session")
    assert remembered.client.get("/account").status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert stored.check_password("a brand new passphrase")
    assert not stored.check_password(PASSWORD)
    # The old password no longer logs in; the new one does.
    third = new_browser(app)
    assert third.login("ana@example.com").status_code == 400
    assert third.login("ana@example.com", "a brand new passphrase").status_code == 302


def test_change_password_keeps_a_remembered_browser_remembered(
    app, make_user, browser_client
):
    make_user("ana@example.com")
    browser_client.login("ana@example.com", remember="y")
    old_cookie = browser_client.client.get_cookie("remember_token").value

    change_password(browser_client, PASSWORD, "a brand new passphrase")

    new_cookie = browser_client.client.get_cookie("remember_token")
    assert new_cookie is not None and new_cookie.value != old_cookie
    browser_client.client.delete_cookie("session")
    assert browser_client.client.get("/account").status_code == 200


# --- delete the account ----------------------------------------------------------


def test_delete_account_refuses_a_wrong_password(app, make_user, browser_client):
    user = make_user("ana@example.com", topic_titles=["Renal clearance"])
    browser_client.login("ana@example.com")

    response = browser_client.post("/account/delete", {"password": "wrong password"})

    assert response.status_code == 400
    assert field_error(text_of(response), "password") == "Your password is not right."
    assert count(User, User.id == user.id) == 1
    assert count(Topic, Topic.user_id == user.id) == 1
    assert browser_client.client.get("/account").status_code == 200


def test_delete_account_removes_everything_and_ends_the_partnership(
    app, make_user, make_partnership, browser_client
):
    ana = make_user(
        "ana@example.com", topic_titles=["Renal clearance", "Cardiac cycle"]
    )
    ben = make_user("ben@example.com", display_name="Ben")
    tokens.create_token(ana.id, "script")
    partnership = make_partnership(ana, ben)
    ana_id, ben_id, partnership_id = ana.id, ben.id, partnership.id
    browser_client.login("ana@example.com", remember="y")

    response = browser_client.post("/account/delete", {"password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert count(User, User.id == ana_id) == 0
    assert count(Profile, Profile.user_id == ana_id) == 0
    assert count(Topic, Topic.user_id == ana_id) == 0
    assert count(ApiToken, ApiToken.user_id == ana_id) == 0
    ended = db.session.get(Partnership, partnership_id)
    assert ended.status == "ended"
    assert ended.ended_at is not None
    assert ended.member_ids() == (ben_id,)
    # This browser is logged out, and the email no longer logs in.
    assert browser_client.client.get_cookie("remember_token") is None
    assert browser_client.client.get("/account").status_code == 302
    assert new_browser(app).login("ana@example.com").status_code == 400
    # The partner still logs in and has no partner any more.
    ben_browser = new_browser(app)
    assert ben_browser.login("ben@example.com").status_code == 302
    dashboard = text_of(ben_browser.client.get("/"))
    assert "You have no partner yet." in dashboard
    assert "You are partners with" not in dashboard
    history = ben_browser.client.get(f"/partnerships/{partnership_id}")
    assert history.status_code == 200
    assert "Partnership with a former member" in text_of(history)
