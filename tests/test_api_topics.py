"""API: the caller's topics — list, add, rename, remove."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import Topic

API = "/api/v1"


def count(*where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Topic).where(*where))


@pytest.fixture
def ann(make_user):
    return make_user("ann@example.com")


@pytest.fixture
def headers(ann, api_token):
    return api_token(ann)


def add(client, headers, title, subject=None):
    body = {"title": title} if subject is None else {"title": title, "subject": subject}
    return client.post(f"{API}/topics", json=body, headers=headers)


def test_empty_list(client, headers):
    response = client.get(f"{API}/topics", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"items": []}


def test_add_returns_201_with_shape(client, headers, ann):
    response = add(client, headers, "  Loop   of Henle ", "Renal")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "title", "subject", "created_at"}
    assert isinstance(body["id"], int)
    assert body["title"] == "Loop of Henle"
    assert body["subject"] == "Renal"
    assert body["created_at"].endswith("+00:00")
    topic = db.session.get(Topic, body["id"])
    assert topic.user_id == ann.id


def test_list_is_sorted_by_subject_then_title(client, headers):
    add(client, headers, "Nephron", "Renal")
    add(client, headers, "Action potential", "Cardio")
    add(client, headers, "Glomerulus", "Renal")
    items = client.get(f"{API}/topics", headers=headers).get_json()["items"]
    assert [(t["subject"], t["title"]) for t in items] == [
        ("Cardio", "Action potential"),
        ("Renal", "Glomerulus"),
        ("Renal", "Nephron"),
    ]
    assert all(isinstance(t["id"], int) for t in items)


def test_list_shows_only_own_topics(client, headers, make_user, api_token):
    ben = make_user()
    add(client, api_token(ben), "Ben's topic")
    add(client, headers, "Ann's topic")
    items = client.get(f"{API}/topics", headers=headers).get_json()["items"]
    assert [t["title"] for t in items] == ["Ann's topic"]


def test_duplicate_title_is_409(client, headers):
    assert add(client, headers, "Nephron").status_code == 201
    response = add(client, headers, "  NEPHRON ")
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"
    assert "already" in response.get_json()["message"]
    assert count() == 1


def test_same_title_for_another_user_is_fine(client, headers, make_user, api_token):
    ben = make_user()
    assert add(client, headers, "Nephron").status_code == 201
    assert add(client, api_token(ben), "Nephron").status_code == 201
    assert count() == 2


def test_title_limits(client, headers):
    assert add(client, headers, "t" * 120).status_code == 201
    response = add(client, headers, "u" * 121)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"
    assert "title" in response.get_json()["message"]
    assert count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": "u" * 121}, "title"),
        ({"title": "   "}, "title"),
        ({"title": ""}, "title"),
        ({"title": 12}, "title"),
        ({"title": None}, "title"),
        ({"title": ["Nephron"]}, "title"),
        ({}, "title"),
        ({"title": "Nephron", "subject": "s" * 41}, "subject"),
        ({"title": "Nephron", "subject": 3}, "subject"),
        ({"title": "Nephron", "owner_id": 2}, "owner_id"),
    ],
)
def test_bad_topic_is_400_and_writes_nothing(client, headers, body, field):
    response = client.post(f"{API}/topics", json=body, headers=headers)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["error"] == "invalid"
    assert field in payload["message"] or payload.get("field") == field
    assert count() == 0


def test_rename_and_change_subject(client, headers):
    topic = add(client, headers, "Nephron", "Renal").get_json()
    response = client.patch(
        f"{API}/topics/{topic['id']}", json={"title": "The nephron"}, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json()["title"] == "The nephron"
    assert response.get_json()["subject"] == "Renal"
    cleared = client.patch(
        f"{API}/topics/{topic['id']}", json={"subject": None}, headers=headers
    )
    assert cleared.status_code == 200
    assert cleared.get_json() == {**topic, "title": "The nephron", "subject": None}


def test_rename_to_an_existing_title_is_409(client, headers):
    add(client, headers, "Nephron")
    other = add(client, headers, "Glomerulus").get_json()
    response = client.patch(
        f"{API}/topics/{other['id']}", json={"title": "nephron"}, headers=headers
    )
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Topic, other["id"]).title == "Glomerulus"


def test_bad_rename_writes_nothing(client, headers):
    topic = add(client, headers, "Nephron", "Renal").get_json()
    for body in (
        {"title": "x" * 121},
        {"title": "OK title", "subject": "s" * 41},
        {"title": 5},
    ):
        response = client.patch(
            f"{API}/topics/{topic['id']}", json=body, headers=headers
        )
        assert response.status_code == 400, body
        db.session.expire_all()
        stored = db.session.get(Topic, topic["id"])
        assert (stored.title, stored.subject) == ("Nephron", "Renal")


def test_delete(client, headers):
    topic = add(client, headers, "Nephron").get_json()
    response = client.delete(f"{API}/topics/{topic['id']}", headers=headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert count() == 0
    again = client.delete(f"{API}/topics/{topic['id']}", headers=headers)
    assert again.status_code == 404


def test_someone_elses_topic_is_404(client, headers, make_user, api_token):
    ben = make_user()
    theirs = add(client, api_token(ben), "Ben's", "Renal").get_json()
    patched = client.patch(
        f"{API}/topics/{theirs['id']}", json={"title": "Mine now"}, headers=headers
    )
    deleted = client.delete(f"{API}/topics/{theirs['id']}", headers=headers)
    unknown = client.delete(f"{API}/topics/987654", headers=headers)
    for response in (patched, deleted, unknown):
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"
    # Someone else's topic and a missing one answer exactly alike.
    assert deleted.get_json() == unknown.get_json()
    db.session.expire_all()
    stored = db.session.get(Topic, theirs["id"])
    assert stored.title == "Ben's"
