"""Text no database can store, and dates out of range: a 400, and nothing written.

A lone surrogate half (JSON "\\ud800") cannot be encoded for SQLite or
PostgreSQL, and PostgreSQL refuses a NUL in text; instants and days at the
edge of the calendar overflow when converted to UTC or stepped a day. Each is
refused where it enters (API schemas, page forms, services) with a message
naming the field, on both backends. Forms decode invalid UTF-8 as U+FFFD, so
a lone surrogate can only come through JSON: the page tests send a NUL.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ally import create_app
from ally.extensions import db
from ally.models import utcnow
from ally.services import schedule, tokens, topics
from tests.conftest import (
    PASSWORD,
    Browser,
    IsolatedClient,
    base_config,
    csrf_from,
    pair_up,
    postgres_app,
    user_maker,
)

API = "/api/v1"
SURROGATE = "\ud800"
NUL = "\x00"
BAD = pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
CANNOT = "cannot be stored"


@dataclass
class World:
    """Ann and Ben are partners with a session under way; Cara and Dan are not."""

    app: Flask
    ann: dict[str, str]  # bearer headers
    cara: dict[str, str]
    ids: dict[str, int]


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def world(
    request: pytest.FixtureRequest,
    migrated_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """One app per backend for the module: every test leaves it unchanged."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("storable") / "ally.db"
        shutil.copy(migrated_template, path)
        application = create_app(base_config(path))
        with application.app_context():
            yield _populate(application)
            db.session.remove()
            db.engine.dispose()
    else:
        with postgres_app() as application:
            yield _populate(application)


def _populate(application: Flask) -> World:
    application.test_client_class = IsolatedClient
    make = user_maker()
    ann = make("ann@example.com", display_name="Ann")
    ben = make("ben@example.com", display_name="Ben")
    cara = make("cara@example.com", display_name="Cara")
    dan = make("dan@example.com", display_name="Dan")
    partnership = pair_up(ann, ben)
    topic = topics.add_topic(ann.id, "Nephron")
    session = schedule.create_extra_session(ann.id, partnership.id, utcnow())
    headers = {}
    for user in (ann, cara):
        _, raw = tokens.create_token(user.id, "tests")
        headers[user.id] = {"Authorization": f"Bearer {raw}"}
    world = World(
        app=application,
        ann=headers[ann.id],
        cara=headers[cara.id],
        ids={
            "partnership": partnership.id,
            "topic": topic.id,
            "session": session.id,
            "dan": dan.id,
        },
    )
    # A token's first use stamps last_used_at: do it before any snapshot.
    client = application.test_client()
    for auth in (world.ann, world.cara):
        assert client.get(f"{API}/me", headers=auth).status_code == 200
    return world


def dump(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table, read through a fresh session."""
    with app.app_context():
        return {
            table.name: sorted(
                (tuple(row) for row in db.session.execute(select(table))), key=repr
            )
            for table in db.metadata.sorted_tables
        }


def assert_invalid(response, field: str, words: str = CANNOT) -> dict[str, Any]:
    """A 400 {error: invalid, message} whose message names the field."""
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid"
    assert f"{field}: " in body["message"], body["message"]
    assert words in body["message"]
    return body


# --- the JSON API -----------------------------------------------------------------

# (method, path, body with "{bad}" where the value goes, field named, caller)
API_CASES = [
    ("patch", "/me", {"display_name": "Ann {bad}"}, "display_name", "ann"),
    ("patch", "/me", {"bio": "Hi {bad}"}, "bio", "ann"),
    ("patch", "/me", {"exam": "{bad}"}, "exam", "ann"),
    ("patch", "/me", {"subjects": ["Renal", "{bad}"]}, "subjects.1", "ann"),
    ("patch", "/me", {"allowed_terms": ["{bad}"]}, "allowed_terms.0", "ann"),
    ("post", "/topics", {"title": "Loop {bad}"}, "title", "ann"),
    ("post", "/topics", {"title": "Loop", "subject": "{bad}"}, "subject", "ann"),
    ("patch", "/topics/{topic}", {"title": "{bad}"}, "title", "ann"),
    ("put", "/sessions/{session}/topic", {"title": "Loop {bad}"}, "title", "ann"),
    (
        "post",
        "/partner-requests",
        {"to_user_id": "{dan}", "message": "Hi {bad}"},
        "message",
        "cara",
    ),
    (
        "patch",
        "/partnerships/{partnership}",
        {"meeting_url": "https://meet.example.com/{bad}"},
        "meeting_url",
        "ann",
    ),
    (
        "post",
        "/me/password",
        {"current_password": PASSWORD, "new_password": "a long new one {bad}"},
        "new_password",
        "ann",
    ),
    (
        "post",
        "/me/password",
        {"current_password": PASSWORD + "{bad}", "new_password": "a long new one"},
        "current_password",
        "ann",
    ),
    ("delete", "/me", {"password": PASSWORD + "{bad}"}, "password", "ann"),
    (
        "post",
        "/auth/register",
        {
            "email": "eve@example.com",
            "password": "long enough {bad}",
            "display_name": "Eve",
            "timezone": "UTC",
        },
        "password",
        None,
    ),
    (
        "post",
        "/auth/register",
        {
            "email": "eve@example.com",
            "password": "long enough password",
            "display_name": "Eve {bad}",
            "timezone": "UTC",
        },
        "display_name",
        None,
    ),
    (
        "post",
        "/auth/token",
        {"email": "ann@example.com", "password": PASSWORD + "{bad}"},
        "password",
        None,
    ),
    (
        "post",
        "/auth/token",
        {"email": "ann@example.com", "password": PASSWORD, "name": "CI {bad}"},
        "name",
        None,
    ),
]


def _fill(value: Any, bad: str, ids: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, bad, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, bad, ids) for v in value]
    if value.startswith("{") and value.strip("{}") in ids:
        return ids[value.strip("{}")]  # an id, as a JSON number
    return value.replace("{bad}", bad)


@BAD
@pytest.mark.parametrize(
    "method, path, body, field, caller",
    API_CASES,
    ids=[f"{m} {p} {f}" for m, p, _, f, _ in API_CASES],
)
def test_api_refuses_unstorable_text(world, bad, method, path, body, field, caller):
    client = world.app.test_client()
    headers = getattr(world, caller) if caller else {}
    before = dump(world.app)
    response = getattr(client, method)(
        API + path.format(**world.ids),
        json=_fill(body, bad, world.ids),  # Flask escapes it: "\ud800", "\u0000"
        headers=headers,
    )
    body = assert_invalid(response, field)
    assert body["errors"]["json"]  # the schema's per-field messages
    assert dump(world.app) == before


def test_query_text_with_a_nul_is_refused(world):
    client = world.app.test_client()
    path = f"{API}/partners/suggestions?exam=USMLE%00"
    response = client.get(path, headers=world.ann)
    assert_invalid(response, "exam")


# --- dates and instants out of range ----------------------------------------------

OUT_OF_RANGE = [
    # year 1 at +14:00 is before datetime's first instant once converted to UTC
    ("0001-01-01T00:00:00+14:00", "0001-01-03T00:00:00+14:00", "from"),
    # the last day: stepping one day past it overflows
    ("9999-12-30T00:00:00Z", "9999-12-31T00:00:00Z", "from"),
    # 9999-12-31 at -14:00 is after datetime's last instant in UTC
    ("9998-12-30T00:00:00Z", "9999-12-31T23:00:00-14:00", "to"),
]


@pytest.mark.parametrize("start, end, field", OUT_OF_RANGE)
def test_session_list_refuses_instants_out_of_range(world, start, end, field):
    client = world.app.test_client()
    before = dump(world.app)
    response = client.get(
        f"{API}/sessions",
        query_string={"from": start, "to": end},
        headers=world.ann,
    )
    assert_invalid(response, field, "out of range")
    assert dump(world.app) == before


@pytest.mark.parametrize(
    "start, end",
    [
        ("0002-01-01T00:00:00Z", "0002-01-02T00:00:00Z"),
        ("9998-12-30T00:00:00+14:00", "9998-12-31T23:59:59Z"),
    ],
)
def test_session_list_answers_at_the_edges_of_the_range(world, start, end):
    client = world.app.test_client()
    response = client.get(
        f"{API}/sessions", query_string={"from": start, "to": end}, headers=world.ann
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert isinstance(response.get_json()["items"], list)  # upcoming ones, maybe


def logged_in(world: World, email: str = "ann@example.com") -> Browser:
    browser = Browser(world.app.test_client())
    response = browser.login(email)
    assert response.status_code == 302
    return browser


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_session_page_of_a_day_out_of_range_is_404(world, day):
    browser = logged_in(world)
    before = dump(world.app)
    response = browser.client.get(f"/partnerships/{world.ids['partnership']}/on/{day}")
    assert response.status_code == 404
    assert dump(world.app) == before


# --- page forms (a NUL: forms cannot carry a lone surrogate) -------------------------


def post_form(
    world: World, client: FlaskClient, path: str, data: dict, page: str
) -> Any:
    """POST a form with the CSRF token of `page`; nothing may change."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    before = dump(world.app)
    response = client.post(
        path, data={**data, "csrf_token": token}, follow_redirects=True
    )
    assert dump(world.app) == before
    return response


def shows_refusal(response, status: int) -> str:
    assert response.status_code == status, response.status_code
    html = response.get_data(as_text=True)
    assert CANNOT in html
    return html


PROFILE = {
    "display_name": "Ann",
    "timezone": "Europe/London",
    "exam": "USMLE Step 1",
    "subjects": "Renal",
    "bio": "",
}


@pytest.mark.parametrize("field", ["display_name", "exam", "subjects", "bio"])
def test_profile_form_refuses_a_nul(world, field):
    client = logged_in(world).client
    data = {**PROFILE, field: PROFILE[field] + NUL + "x"}
    html = shows_refusal(post_form(world, client, "/profile", data, "/profile"), 400)
    assert "Contains a NUL character" in html


def test_topic_form_refuses_a_nul(world):
    client = logged_in(world).client
    response = post_form(
        world, client, "/topics", {"title": "Loop\x00", "subject": ""}, "/profile"
    )
    shows_refusal(response, 200)  # back on the profile, the message flashed


def test_planned_topic_form_refuses_a_nul(world):
    """The page posts the raw field to the service, which applies the rule."""
    client = logged_in(world).client
    session_page = f"/sessions/{world.ids['session']}"
    response = post_form(
        world, client, f"{session_page}/topic", {"topic": "Loop\x00"}, session_page
    )
    assert "Topic contains a NUL character" in shows_refusal(response, 200)


def test_review_terms_form_refuses_a_nul(world):
    client = logged_in(world).client
    response = post_form(
        world, client, "/review/terms", {"terms": "nephron, lo\x00op"}, "/review"
    )
    assert "A term contains a NUL character" in shows_refusal(response, 400)


def test_partner_request_form_refuses_a_nul(world):
    client = logged_in(world, "cara@example.com").client
    data = {"to_user_id": str(world.ids["dan"]), "message": "Hi\x00"}
    response = post_form(world, client, "/partners/request", data, "/partners")
    shows_refusal(response, 200)


def test_meeting_link_form_refuses_a_nul(world):
    client = logged_in(world).client
    page = f"/partnerships/{world.ids['partnership']}"
    data = {"meeting_url": "https://meet.example.com/\x00"}
    shows_refusal(post_form(world, client, f"{page}/meeting", data, page), 200)


def test_password_forms_refuse_a_nul(world):
    client = logged_in(world).client
    data = {
        "current_password": PASSWORD,
        "new_password": "a long new one\x00",
        "confirm": "a long new one\x00",
    }
    response = post_form(world, client, "/account/password", data, "/account")
    shows_refusal(response, 400)

    anonymous = world.app.test_client()
    data = {
        "email": "eve@example.com",
        "display_name": "Eve",
        "timezone": "UTC",
        "password": "long enough\x00",
        "confirm": "long enough\x00",
    }
    shows_refusal(post_form(world, anonymous, "/register", data, "/register"), 400)
    data = {"email": "ann@example.com", "password": PASSWORD + "\x00"}
    shows_refusal(post_form(world, anonymous, "/login", data, "/login"), 400)
