"""API error answers: {error, message} with a 4xx, and nothing written."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import PartnerRequest, Topic, User
from tests.conftest import PASSWORD

API = "/api/v1"

# Every write endpoint with a valid body for it (ids filled in by the test).
WRITES = [
    ("post", "/auth/register"),
    ("post", "/auth/token"),
    ("patch", "/me"),
    ("post", "/me/password"),
    ("delete", "/me"),
    ("post", "/topics"),
    ("patch", "/topics/{topic}"),
    ("post", "/partner-requests"),
    ("post", "/blocks"),
    ("patch", "/partnerships/{partnership}"),
]


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and len(body["message"]) > 5
    return body


@pytest.fixture
def world(make_user, make_partnership, api_token, client):
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    partnership = make_partnership(ann, ben)
    headers = api_token(ann)
    topic = client.post(f"{API}/topics", json={"title": "Nephron"}, headers=headers)
    return {
        "headers": headers,
        "ids": {"topic": topic.get_json()["id"], "partnership": partnership.id},
        "ann": ann,
    }


def snapshot():
    db.session.expire_all()
    users = db.session.execute(
        select(User.id, User.display_name, User.timezone, User.password_hash)
    ).all()
    topic_rows = db.session.execute(select(Topic.id, Topic.title)).all()
    return users, topic_rows, count(PartnerRequest)


@pytest.mark.parametrize("method, path", WRITES)
def test_non_json_body_is_415(client, world, method, path):
    before = snapshot()
    response = getattr(client, method)(
        f"{API}{path.format(**world['ids'])}",
        data="title=Nephron",
        content_type="text/plain",
        headers=world["headers"],
    )
    assert_error(response, 415, "unsupported_media_type")
    assert snapshot() == before


def test_form_encoded_body_is_415(client, world):
    response = client.post(
        f"{API}/topics", data={"title": "Form"}, headers=world["headers"]
    )
    assert_error(response, 415, "unsupported_media_type")
    assert count(Topic) == 1


def test_chunked_non_json_body_is_415(client, world):
    response = client.post(
        f"{API}/topics",
        input_stream=io.BytesIO(b'{"title": "Chunked"}'),
        headers={
            **world["headers"],
            "Content-Type": "text/plain",
            "Transfer-Encoding": "chunked",
        },
    )
    assert_error(response, 415, "unsupported_media_type")
    assert count(Topic) == 1


@pytest.mark.parametrize("method, path", WRITES)
def test_malformed_or_non_object_json_is_400(client, world, method, path):
    before = snapshot()
    cases = [
        ('{"title": "x",', "The body is not valid JSON."),
        ("{'title': 'x'}", "The body is not valid JSON."),
        ("nope", "The body is not valid JSON."),
        ('[{"title": "x"}]', "The body must be a JSON object."),
        ('"Nephron"', "The body must be a JSON object."),
        ("42", "The body must be a JSON object."),
        ("null", "The body must be a JSON object."),
        ("true", "The body must be a JSON object."),
    ]
    for raw, message in cases:
        response = getattr(client, method)(
            f"{API}{path.format(**world['ids'])}",
            data=raw,
            content_type="application/json",
            headers=world["headers"],
        )
        body = assert_error(response, 400, "bad_json")
        assert body["message"] == message, raw
    assert snapshot() == before


@pytest.mark.parametrize("method, path", WRITES)
def test_body_over_64_kib_is_413(client, world, method, path):
    before = snapshot()
    response = getattr(client, method)(
        f"{API}{path.format(**world['ids'])}",
        json={"title": "x" * (64 * 1024)},
        headers=world["headers"],
    )
    body = assert_error(response, 413, "payload_too_large")
    assert "64 KiB" in body["message"]
    assert snapshot() == before


def test_body_just_under_the_limit_is_read(client, world):
    # Read in full and refused for its content, not its size.
    response = client.patch(
        f"{API}/me", json={"bio": "b" * (60 * 1024)}, headers=world["headers"]
    )
    body = assert_error(response, 400, "invalid")
    assert "bio" in body["message"]


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "/topics", {"title": "x", "colour": "red"}),
        ("patch", "/topics/{topic}", {"name": "x"}),
        ("patch", "/me", {"nickname": "x"}),
        (
            "post",
            "/me/password",
            {"current_password": "a", "new_password": "b", "x": 1},
        ),
        ("post", "/partner-requests", {"to_user_id": 2, "urgent": True}),
        ("post", "/blocks", {"user_id": 2, "why": "x"}),
        ("patch", "/partnerships/{partnership}", {"owner": 1}),
        ("post", "/auth/token", {"email": "a@example.com", "password": "x", "ttl": 5}),
        (
            "post",
            "/auth/register",
            {
                "email": "z@example.com",
                "password": PASSWORD,
                "display_name": "Z",
                "timezone": "UTC",
                "is_admin": True,
            },
        ),
    ],
)
def test_unknown_fields_are_400(client, world, method, path, body):
    before = snapshot()
    response = getattr(client, method)(
        f"{API}{path.format(**world['ids'])}", json=body, headers=world["headers"]
    )
    payload = assert_error(response, 400, "invalid")
    unknown = next(k for k in body if k not in {"title", "user_id", "to_user_id"})
    if path.startswith("/auth") or path == "/me/password":
        unknown = list(body)[-1]
    assert unknown in payload["message"]
    assert "Unknown field" in payload["message"]
    assert snapshot() == before


@pytest.mark.parametrize(
    "method, path",
    [
        ("patch", "/topics/999999"),
        ("delete", "/topics/999999"),
        ("delete", "/tokens/999999"),
        ("post", "/partner-requests/999999/accept"),
        ("post", "/partner-requests/999999/decline"),
        ("post", "/partner-requests/999999/cancel"),
        ("delete", "/blocks/999999"),
        ("get", "/partnerships/999999"),
        ("patch", "/partnerships/999999"),
        ("delete", "/partnerships/999999"),
    ],
)
def test_unknown_ids_are_404(client, world, method, path):
    before = snapshot()
    kwargs = {"json": {"title": "x"}} if method == "patch" else {}
    if path.startswith("/partnerships") and method == "patch":
        kwargs = {"json": {"turns": 2}}
    response = getattr(client, method)(
        f"{API}{path}", headers=world["headers"], **kwargs
    )
    assert_error(response, 404, "not_found")
    assert snapshot() == before


def test_non_numeric_ids_are_404(client, world):
    for path in ("/topics/abc", "/partnerships/1.5", "/partner-requests/x/accept"):
        method = "post" if path.endswith("accept") else "delete"
        response = getattr(client, method)(f"{API}{path}", headers=world["headers"])
        assert_error(response, 404, "not_found")


def test_unknown_route_and_method(client, world):
    missing = client.get(f"{API}/does-not-exist", headers=world["headers"])
    assert_error(missing, 404, "not_found")
    wrong = client.put(f"{API}/me", json={}, headers=world["headers"])
    assert_error(wrong, 405, "method_not_allowed")
    assert "PATCH" in wrong.headers["Allow"]


def test_nested_validation_message_is_readable(client, world):
    response = client.patch(
        f"{API}/me",
        json={"availability": [{"start": "10:00", "end": "12:00", "weekdays": [1.5]}]},
        headers=world["headers"],
    )
    body = assert_error(response, 400, "invalid")
    assert body["message"] == "availability.0.weekdays.0: Not a valid integer."
    assert body["errors"] == {
        "json": {"availability": {"0": {"weekdays": {"0": ["Not a valid integer."]}}}}
    }


def test_service_errors_name_the_field(client, world):
    response = client.patch(
        f"{API}/me", json={"timezone": "Mars/Base"}, headers=world["headers"]
    )
    body = assert_error(response, 400, "invalid")
    assert body["field"] == "timezone"
    assert "Mars/Base" in body["message"]


def test_errors_are_json_never_html(client, world):
    for response in (
        client.get(f"{API}/me"),
        client.get(f"{API}/nope", headers=world["headers"]),
        client.post(f"{API}/topics", data="x", headers=world["headers"]),
    ):
        assert response.mimetype == "application/json"
        assert "<html" not in response.get_data(as_text=True).lower()
        assert set(response.get_json()) >= {"error", "message"}
