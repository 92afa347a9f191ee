"""API auth: register, tokens, bearer and cookie auth, CSRF, rate limits."""

from __future__ import annotations

import pytest
from flask import g
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import ApiToken, Topic, User
from tests.conftest import PASSWORD, Browser, csrf_from

API = "/api/v1"

PROTECTED = [
    ("get", "/tokens"),
    ("delete", "/tokens/1"),
    ("get", "/me"),
    ("patch", "/me"),
    ("delete", "/me"),
    ("post", "/me/password"),
    ("get", "/topics"),
    ("post", "/topics"),
    ("patch", "/topics/1"),
    ("delete", "/topics/1"),
    ("get", "/partners/suggestions"),
    ("get", "/partner-requests"),
    ("post", "/partner-requests"),
    ("post", "/partner-requests/1/accept"),
    ("post", "/partner-requests/1/decline"),
    ("post", "/partner-requests/1/cancel"),
    ("get", "/blocks"),
    ("post", "/blocks"),
    ("delete", "/blocks/1"),
    ("get", "/partnerships"),
    ("get", "/partnerships/1"),
    ("patch", "/partnerships/1"),
    ("delete", "/partnerships/1"),
]


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def register_body(**overrides):
    return {
        "email": "New.Student@Example.com",
        "password": PASSWORD,
        "display_name": "  New   Student ",
        "timezone": "Asia/Kathmandu",
        **overrides,
    }


# --- register ------------------------------------------------------------------


def test_register_creates_user_with_exact_shape(client):
    response = client.post(f"{API}/auth/register", json=register_body())
    assert response.status_code == 201
    body = response.get_json()
    assert body == {
        "id": body["id"],
        "email": "new.student@example.com",
        "display_name": "New Student",
        "timezone": "Asia/Kathmandu",
    }
    assert isinstance(body["id"], int)
    user = db.session.get(User, body["id"])
    assert user.email == "new.student@example.com"
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash


def test_register_duplicate_email_is_409_and_writes_nothing(client, make_user):
    make_user("new.student@example.com")
    response = client.post(f"{API}/auth/register", json=register_body())
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"
    assert count(User) == 1


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"display_name": "x" * 61}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "p" * 129}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"email": 42}, "email"),
        ({"timezone": ["Europe/London"]}, "timezone"),
    ],
)
def test_register_refuses_bad_input(client, overrides, field):
    response = client.post(f"{API}/auth/register", json=register_body(**overrides))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid"
    assert body["message"]
    assert field in body["message"] or body.get("field") == field
    assert count(User) == 0


def test_register_missing_fields_is_400(client):
    response = client.post(f"{API}/auth/register", json={"email": "a@example.com"})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid"
    assert set(body["errors"]["json"]) == {"password", "display_name", "timezone"}
    assert count(User) == 0


# --- tokens ----------------------------------------------------------------------


def test_token_for_credentials_and_it_works(client, make_user):
    user = make_user("ann@example.com", display_name="Ann")
    response = client.post(
        f"{API}/auth/token",
        json={"email": "ANN@example.com", "password": PASSWORD, "name": "laptop"},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "id", "name"}
    assert body["name"] == "laptop"
    assert isinstance(body["id"], int)
    raw = body["token"]
    assert raw.startswith("ally_") and len(raw) > 30
    me = client.get(f"{API}/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200
    assert me.get_json()["id"] == user.id
    # Stored hashed: the raw value is in no column.
    token = db.session.get(ApiToken, body["id"])
    assert token.token_hash != raw and raw not in token.token_hash
    assert token.prefix == raw[:12]


def test_unknown_email_and_wrong_password_answer_the_same(client, make_user):
    make_user("ann@example.com")
    unknown = client.post(
        f"{API}/auth/token", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    wrong = client.post(
        f"{API}/auth/token",
        json={"email": "ann@example.com", "password": "not the password"},
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    assert unknown.get_json() == {
        "error": "unauthorized",
        "message": "Wrong email or password.",
    }
    assert count(ApiToken) == 0


def test_token_list_never_shows_values_and_revoke(client, make_user, api_token):
    ann = make_user("ann@example.com")
    headers = api_token(ann)
    raw = headers["Authorization"].split()[1]
    response = client.get(f"{API}/tokens", headers=headers)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert len(items) == 1
    assert set(items[0]) == {"id", "name", "prefix", "created_at", "last_used_at"}
    assert items[0]["name"] == "tests"
    assert raw not in response.get_data(as_text=True)

    revoked = client.delete(f"{API}/tokens/{items[0]['id']}", headers=headers)
    assert revoked.status_code == 204
    assert count(ApiToken) == 0
    after = client.get(f"{API}/me", headers=headers)
    assert after.status_code == 401
    assert after.get_json()["error"] == "unauthorized"


def test_revoking_someone_elses_token_is_404(client, make_user, api_token):
    ann, ben = make_user(), make_user()
    ann_headers, ben_headers = api_token(ann), api_token(ben)
    ben_token_id = db.session.scalar(
        select(ApiToken.id).where(ApiToken.user_id == ben.id)
    )
    response = client.delete(f"{API}/tokens/{ben_token_id}", headers=ann_headers)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert client.get(f"{API}/me", headers=ben_headers).status_code == 200
    assert client.delete(f"{API}/tokens/999999", headers=ann_headers).status_code == 404


# --- credentials -----------------------------------------------------------------


@pytest.mark.parametrize("method, path", PROTECTED)
def test_no_credentials_is_401(client, method, path):
    response = getattr(client, method)(f"{API}{path}", json={})
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "unauthorized"
    assert isinstance(body["message"], str) and body["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ally_not-a-real-token",
        "Bearer ",
        "Bearer",
        "Basic YW5uOnB3",
        "Token ally_x",
        "Bearer " + "ally_" + "x" * 300,
    ],
)
def test_bad_bearer_is_401(client, make_user, header):
    make_user()
    response = client.get(f"{API}/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_bearer_of_deleted_user_is_401(client, make_user, api_token):
    ann = make_user()
    headers = api_token(ann)
    response = client.delete(f"{API}/me", json={"password": PASSWORD}, headers=headers)
    assert response.status_code == 204
    assert client.get(f"{API}/me", headers=headers).status_code == 401


# --- cookie auth and CSRF ------------------------------------------------------


@pytest.fixture
def logged_in(client, make_user):
    """A test client logged in through /login, and a CSRF token for it."""
    user = make_user("cookie@example.com")
    response = Browser(client).login("cookie@example.com")
    assert response.status_code == 302
    # The `app` fixture's pushed app context is shared by every request of the
    # test client, so flask.g still caches the pre-login CSRF token (whose
    # session value the login cleared); drop it as a new request would.
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/account").get_data(as_text=True))
    return user, token


def test_cookie_get_works_without_csrf(client, logged_in):
    user, _ = logged_in
    response = client.get(f"{API}/me")
    assert response.status_code == 200
    assert response.get_json()["id"] == user.id


def test_cookie_write_without_csrf_is_refused_and_writes_nothing(client, logged_in):
    user, _ = logged_in
    response = client.post(f"{API}/topics", json={"title": "Nephron"})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "csrf_failed"
    assert body["message"]
    assert count(Topic) == 0

    patched = client.patch(f"{API}/me", json={"display_name": "Changed"})
    assert patched.status_code == 400
    assert patched.get_json()["error"] == "csrf_failed"
    db.session.expire_all()
    assert db.session.get(User, user.id).display_name != "Changed"

    deleted = client.delete(f"{API}/me", json={"password": PASSWORD})
    assert deleted.status_code == 400
    assert count(User) == 1


def test_cookie_write_with_wrong_csrf_is_refused(client, logged_in):
    response = client.post(
        f"{API}/topics", json={"title": "Nephron"}, headers={"X-CSRFToken": "forged"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "csrf_failed"
    assert count(Topic) == 0


def test_cookie_write_with_csrf_header_works(client, logged_in):
    user, token = logged_in
    response = client.post(
        f"{API}/topics", json={"title": "Nephron"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201
    assert count(Topic, Topic.user_id == user.id) == 1
    patched = client.patch(
        f"{API}/me",
        json={"display_name": "Cookie Person"},
        headers={"X-CSRFToken": token},
    )
    assert patched.status_code == 200
    assert patched.get_json()["display_name"] == "Cookie Person"


def test_bearer_write_needs_no_csrf(client, make_user, api_token):
    ann = make_user()
    response = client.post(
        f"{API}/topics", json={"title": "Nephron"}, headers=api_token(ann)
    )
    assert response.status_code == 201


# --- password ----------------------------------------------------------------------

NEW_PASSWORD = "a much better passphrase"


def test_change_password(client, make_user, api_token):
    make_user("ann@example.com")
    headers = api_token(db.session.scalar(select(User)))
    response = client.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert response.status_code == 204
    assert response.get_data() == b""
    old = client.post(
        f"{API}/auth/token", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    new = client.post(
        f"{API}/auth/token", json={"email": "ann@example.com", "password": NEW_PASSWORD}
    )
    assert new.status_code == 201
    # API tokens stay valid after a password change.
    assert client.get(f"{API}/me", headers=headers).status_code == 200


def test_change_password_ends_cookie_logins(client, logged_in, api_token):
    user, _ = logged_in
    assert client.get(f"{API}/me").status_code == 200
    other = client.application.test_client()
    response = other.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=api_token(user),
    )
    assert response.status_code == 204
    g.pop("_login_user", None)  # Flask-Login's per-request cache (shared g)
    assert client.get(f"{API}/me").status_code == 401


@pytest.mark.parametrize(
    "body, field",
    [
        (
            {"current_password": "wrong password!", "new_password": NEW_PASSWORD},
            "current",
        ),
        ({"current_password": PASSWORD, "new_password": "short"}, "password"),
        ({"current_password": PASSWORD, "new_password": "password"}, "password"),
        ({"current_password": PASSWORD, "new_password": 12345678}, "new_password"),
        ({"current_password": PASSWORD}, "new_password"),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "x": 1}, "x"),
    ],
)
def test_change_password_refusals_write_nothing(
    client, make_user, api_token, body, field
):
    ann = make_user("ann@example.com")
    before = ann.password_hash
    response = client.post(f"{API}/me/password", json=body, headers=api_token(ann))
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["error"] == "invalid"
    assert field in payload["message"] or field in (payload.get("field") or "")
    db.session.expire_all()
    assert db.session.get(User, ann.id).password_hash == before


# --- rate limits -------------------------------------------------------------------


def test_token_endpoint_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, ALLY_AUTH_RATE_LIMIT="3 per minute")
    client = app.test_client()
    body = {"email": "nobody@example.com", "password": "whatever it is"}
    statuses = [
        client.post(f"{API}/auth/token", json=body).status_code for _ in range(4)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429
    response = client.post(f"{API}/auth/token", json=body)
    assert response.status_code == 429
    payload = response.get_json()
    assert payload["error"] == "rate_limited"
    assert payload["message"]


def test_register_endpoint_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, ALLY_AUTH_RATE_LIMIT="3 per minute")
    client = app.test_client()
    statuses = [
        client.post(
            f"{API}/auth/register", json=register_body(email=f"s{i}@example.com")
        ).status_code
        for i in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 3
