"""API: the re-teach schedule on GET /topics and GET /topics/due (DESIGN §11)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ally.domain import reteach as rules
from ally.models import utcnow
from ally.services import topics
from tests.support.reteach import rate

API = "/api/v1"
SCHEDULE = {"due_at", "stability_days", "retrievability", "reviews"}


@pytest.fixture
def world(make_user, make_partnership, api_token):
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    pid = make_partnership(ann, ben).id
    now = utcnow()
    ago = lambda days: now - timedelta(days=days)  # noqa: E731
    for title in ("RAAS", "Loop diuretics", "Glycolysis", "Never taught"):
        topics.add_topic(ann.id, title)
    rate(ann, ben, pid, "RAAS", 1, ago(10))  # Again: due 9 days ago
    rate(ann, ben, pid, "loop  DIURETICS", 4, ago(5))  # Good: due 3 days ago
    rate(ann, ben, pid, "Glycolysis", 5, ago(1))  # Easy: a week away
    rate(ann, ben, pid, "Nephron", 1, ago(6))  # not on her list; due 5 days ago
    rate(ben, ann, pid, "RAAS", 1, ago(20))  # Ben's own card, due long ago
    topics.add_topic(ben.id, "Cardiac output")
    return ann, ben, api_token(ann), api_token(ben), ago


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def test_topics_carry_their_schedule(client, world):
    ann, _, headers, _, ago = world
    items = client.get(f"{API}/topics", headers=headers).get_json()["items"]
    by_title = {item["title"]: item for item in items}
    assert set(by_title) == {"RAAS", "Loop diuretics", "Glycolysis", "Never taught"}
    for item in items:
        assert SCHEDULE <= set(item)
    never = by_title["Never taught"]
    assert (never["due_at"], never["stability_days"], never["retrievability"]) == (
        None,
        None,
        None,
    )
    assert never["reviews"] == 0
    raas = by_title["RAAS"]
    expected = rules.review(None, 1, ago(10))
    assert when(raas["due_at"]) == expected.due_at
    assert raas["stability_days"] == pytest.approx(expected.stability)
    assert raas["reviews"] == 1
    # Case and spacing folded: "loop  DIURETICS" was this topic.
    assert by_title["Loop diuretics"]["reviews"] == 1
    glycolysis = by_title["Glycolysis"]
    assert when(glycolysis["due_at"]) > utcnow()
    assert 0 < raas["retrievability"] < glycolysis["retrievability"] <= 1


def test_due_lists_the_most_overdue_first(client, world):
    ann, _, headers, _, ago = world
    response = client.get(f"{API}/topics/due", headers=headers)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["title"] for i in items] == ["RAAS", "Nephron", "loop  DIURETICS"]
    dues = [when(i["due_at"]) for i in items]
    assert dues == sorted(dues) and dues[-1] <= utcnow()
    on_list = {t.title_key: t.id for t in topics.list_topics(ann.id)}
    assert items[0]["topic_id"] == on_list["raas"]
    assert items[1]["topic_id"] is None  # taught, but not on her list
    assert items[2]["key"] == "loop diuretics"
    assert when(items[0]["last_review_at"]) == ago(10)
    assert all(SCHEDULE <= set(i) and 0 < i["retrievability"] < 1 for i in items)


def test_other_students_cards_are_never_shown(client, world):
    ann, ben, headers, ben_headers, _ = world
    due = client.get(f"{API}/topics/due", headers=headers).get_json()["items"]
    # Ben's RAAS card (rated 20 days ago) is not Ann's.
    assert sum(i["key"] == "raas" for i in due) == 1
    assert when(due[0]["last_review_at"]) > utcnow() - timedelta(days=11)
    bens = client.get(f"{API}/topics/due", headers=ben_headers).get_json()["items"]
    assert [(i["title"], i["topic_id"]) for i in bens] == [("RAAS", None)]
    listed = client.get(f"{API}/topics", headers=ben_headers).get_json()["items"]
    assert [(i["title"], i["due_at"], i["reviews"]) for i in listed] == [
        ("Cardiac output", None, 0)
    ]


@pytest.mark.parametrize("path", ["/topics", "/topics/due"])
def test_without_a_login_it_is_401(client, world, path):
    response = client.get(f"{API}{path}")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_the_openapi_document_describes_the_schedule(client):
    doc = client.get(f"{API}/openapi.json").get_json()
    assert "/api/v1/topics/due" in doc["paths"]
    item = doc["components"]["schemas"]["ScheduledTopicOut"]["properties"]
    assert SCHEDULE <= set(item)
    assert item["due_at"]["nullable"] is True
