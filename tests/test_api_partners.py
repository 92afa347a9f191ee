"""API: partner suggestions, partner requests and blocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import Block, PartnerRequest, Partnership, utcnow
from ally.services import partners, partnerships
from ally.services.errors import Conflict

API = "/api/v1"
EVENING = [{"start": "18:00", "end": "22:00"}]


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def suggestions(client, headers, query=""):
    response = client.get(f"{API}/partners/suggestions{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def names(payload) -> list[str]:
    return [item["user"]["display_name"] for item in payload["items"]]


def send(client, headers, to_id, message="Study together?"):
    return client.post(
        f"{API}/partner-requests",
        json={"to_user_id": to_id, "message": message},
        headers=headers,
    )


def public(user, exam="USMLE Step 1"):
    return {
        "id": user.id,
        "display_name": user.display_name,
        "timezone": user.timezone,
        "exam": exam,
    }


# --- suggestions -------------------------------------------------------------------


@pytest.fixture
def crowd(make_user):
    """A seeker and candidates whose scores and reasons are computed by hand."""
    people = {
        "ann": make_user(
            display_name="Ann",
            availability=EVENING,
            exam="USMLE Step 1",
            exam_date="2026-06-01",
            subjects=["Renal", "Cardio"],
        ),
        # 4 h shared (40) + same exam (25) + 12 days apart (16) + 2 subjects (10).
        "ben": make_user(
            display_name="Ben",
            availability=EVENING,
            exam="usmle  step 1",
            exam_date="2026-06-13",
            subjects=["cardio", "RENAL", "Pharm"],
        ),
        # Berlin 20:00-22:30 is London 19:00-21:30 all year: 2 h 30 min (40).
        "cat": make_user(
            display_name="Cat",
            timezone="Europe/Berlin",
            availability=[{"start": "20:00", "end": "22:30"}],
            exam="COMLEX Level 1",
        ),
        # 1 h 30 min (30) + same exam, no date (25) + one subject (5).
        "gus": make_user(
            display_name="Gus",
            availability=[{"start": "18:00", "end": "19:30"}],
            exam="USMLE Step 1",
            subjects=["Renal"],
        ),
        # Only 30 minutes in common: shorter than a session.
        "dan": make_user(
            display_name="Dan", availability=[{"start": "21:30", "end": "23:30"}]
        ),
        # 80 minutes in common, but as 40 + 40: no unbroken hour.
        "eve": make_user(
            display_name="Eve",
            availability=[
                {"start": "17:00", "end": "18:40"},
                {"start": "21:20", "end": "23:00"},
            ],
        ),
        # Perfect match but not looking.
        "fay": make_user(
            display_name="Fay",
            availability=EVENING,
            exam="USMLE Step 1",
            exam_date="2026-06-01",
            subjects=["Renal", "Cardio"],
            looking_for_partner=False,
        ),
    }
    return people


def test_suggestions_best_first_with_reasons(client, crowd, api_token):
    payload = suggestions(client, api_token(crowd["ann"]))
    assert payload["at_limit"] is False
    assert names(payload) == ["Ben", "Gus", "Cat"]
    ben, gus, cat = payload["items"]
    assert ben == {
        "user": public(crowd["ben"], exam="usmle step 1"),
        "score": 91,
        "overlap_minutes": 240,
        "reasons": [
            "4 h in common each day",
            "same exam, 12 days apart",
            "both on Renal and Cardio",
        ],
        "pending": None,
    }
    assert (gus["score"], gus["overlap_minutes"]) == (60, 90)
    assert gus["reasons"] == [
        "1 h 30 min in common each day",
        "same exam",
        "both on Renal",
    ]
    assert (cat["score"], cat["overlap_minutes"]) == (40, 150)
    assert cat["reasons"] == ["2 h 30 min in common each day"]
    assert cat["user"]["timezone"] == "Europe/Berlin"
    assert isinstance(cat["user"]["id"], int)


def test_suggestions_seen_from_the_other_side(client, crowd, api_token):
    payload = suggestions(client, api_token(crowd["cat"]))
    # Cat shares 2 h 30 min with Ann and Ben, 30 min with Gus (18:00-19:30 London
    # is 19:00-20:30 Berlin; Cat starts 20:00).
    assert names(payload)[:2] == ["Ann", "Ben"]
    assert "Gus" not in names(payload)


FILTERS = [
    ("?exam=USMLE%20STEP%201", ["Ben", "Gus"]),
    ("?exam=COMLEX%20Level%201", ["Cat"]),
    ("?exam=MCAT", []),
    ("?subject=cardio", ["Ben"]),
    ("?subject=Renal", ["Ben", "Gus"]),
    ("?min_overlap=100", ["Ben", "Cat"]),
    ("?min_overlap=200", ["Ben"]),
    ("?min_overlap=241", []),
    ("?exam=USMLE%20Step%201&min_overlap=100", ["Ben"]),
    ("?limit=1", ["Ben"]),
]


def test_suggestion_filters(client, crowd, api_token):
    # One crowd for every filter: building it hashes seven passwords.
    headers = api_token(crowd["ann"])
    for query, expected in FILTERS:
        assert names(suggestions(client, headers, query)) == expected, query


BAD_QUERIES = [
    "?min_overlap=abc",
    "?min_overlap=1.5",
    "?min_overlap=-1",
    "?min_overlap=1441",
    "?limit=0",
    "?limit=101",
    "?exam=" + "x" * 81,
    "?subject=" + "x" * 41,
]


def test_bad_suggestion_query_is_400(client, pair, api_token):
    headers = api_token(pair[0])
    for query in BAD_QUERIES:
        response = client.get(f"{API}/partners/suggestions{query}", headers=headers)
        assert response.status_code == 400, query
        assert response.get_json()["error"] == "invalid"
        assert response.get_json()["message"]


def test_suggestions_show_pending_requests(client, crowd, api_token):
    assert send(client, api_token(crowd["ann"]), crowd["ben"].id).status_code == 201
    mine = suggestions(client, api_token(crowd["ann"]))["items"]
    assert [i["pending"] for i in mine] == ["sent", None, None]
    theirs = suggestions(client, api_token(crowd["ben"]))["items"]
    assert {i["user"]["display_name"]: i["pending"] for i in theirs}[
        "Ann"
    ] == "received"


def test_full_users_are_excluded_and_at_limit(
    client, crowd, api_token, make_partnership
):
    make_partnership(crowd["ben"], crowd["fay"])
    payload = suggestions(client, api_token(crowd["ann"]))
    assert names(payload) == ["Gus", "Cat"]
    assert payload["at_limit"] is False
    make_partnership(crowd["ann"], crowd["gus"])
    payload = suggestions(client, api_token(crowd["ann"]))
    assert payload["at_limit"] is True
    assert "Gus" not in names(payload) and "Ben" not in names(payload)
    assert "Ann" not in names(suggestions(client, api_token(crowd["cat"])))


# --- partner requests ------------------------------------------------------------


@pytest.fixture
def pair(make_user):
    ann = make_user("ann@example.com", display_name="Ann", availability=EVENING)
    ben = make_user("ben@example.com", display_name="Ben", availability=EVENING)
    return ann, ben


def test_send_request_201_with_shape(client, pair, api_token):
    ann, ben = pair
    response = send(client, api_token(ann), ben.id, "  Hi Ben!  ")
    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert body["status"] == "pending"
    assert body["direction"] == "sent"
    assert body["from_user"] == public(ann)
    assert body["to_user"] == public(ben)
    assert body["message"] == "Hi Ben!"
    assert body["responded_at"] is None
    created = datetime.fromisoformat(body["created_at"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires - created == timedelta(days=7)
    assert abs(created - utcnow()) < timedelta(minutes=1)


def test_request_message_limit(client, pair, api_token):
    ann, ben = pair
    response = send(client, api_token(ann), ben.id, "m" * 501)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"
    assert "message" in response.get_json()["message"]
    assert count(PartnerRequest) == 0
    assert send(client, api_token(ann), ben.id, "m" * 500).status_code == 201


def test_request_without_message(client, pair, api_token):
    ann, ben = pair
    response = client.post(
        f"{API}/partner-requests", json={"to_user_id": ben.id}, headers=api_token(ann)
    )
    assert response.status_code == 201
    assert response.get_json()["message"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {"to_user_id": "2"},
        {"to_user_id": 2.0},
        {"to_user_id": 2.5},
        {"to_user_id": True},
        {"to_user_id": None},
        {"to_user_id": [2]},
        {"to_user_id": {"id": 2}},
        {},
        {"to_user_id": 2, "message": 5},
        {"to_user_id": 2, "message": None},
        {"to_user_id": 2, "priority": "high"},
    ],
)
def test_bad_request_body_is_400(client, pair, api_token, body):
    ann, ben = pair
    assert ben.id == 2
    response = client.post(f"{API}/partner-requests", json=body, headers=api_token(ann))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"
    assert count(PartnerRequest) == 0


def test_request_to_self_is_refused(client, pair, api_token):
    ann, _ = pair
    response = send(client, api_token(ann), ann.id)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"
    assert "yourself" in response.get_json()["message"]
    assert count(PartnerRequest) == 0


def test_request_to_unknown_user_is_404(client, pair, api_token):
    ann, _ = pair
    response = send(client, api_token(ann), 9999)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert count(PartnerRequest) == 0


def test_one_pending_request_per_pair_either_direction(client, pair, api_token):
    ann, ben = pair
    assert send(client, api_token(ann), ben.id).status_code == 201
    again = send(client, api_token(ann), ben.id)
    assert again.status_code == 409
    assert again.get_json()["error"] == "conflict"
    reverse = send(client, api_token(ben), ann.id)
    assert reverse.status_code == 409
    assert "accept" in reverse.get_json()["message"]
    assert count(PartnerRequest) == 1


def test_list_requests_for_each_side(client, pair, api_token, make_user):
    ann, ben = pair
    cat = make_user()
    sent = send(client, api_token(ann), ben.id).get_json()
    mine = client.get(f"{API}/partner-requests", headers=api_token(ann)).get_json()
    theirs = client.get(f"{API}/partner-requests", headers=api_token(ben)).get_json()
    nobody = client.get(f"{API}/partner-requests", headers=api_token(cat)).get_json()
    assert mine == {"items": [sent]}
    assert theirs["items"][0] == {**sent, "direction": "received"}
    assert nobody == {"items": []}
    pending = client.get(
        f"{API}/partner-requests?status=pending", headers=api_token(ann)
    ).get_json()
    assert [r["id"] for r in pending["items"]] == [sent["id"]]
    declined = client.get(
        f"{API}/partner-requests?status=declined", headers=api_token(ann)
    ).get_json()
    assert declined == {"items": []}
    bad = client.get(f"{API}/partner-requests?status=lost", headers=api_token(ann))
    assert bad.status_code == 400


def test_accept_creates_partnership_in_accepters_zone(client, make_user, api_token):
    # Accepter in London 18:00-22:00; requester in Berlin 20:30-23:30, which is
    # London 19:30-22:30 all year (both zones change clocks on the same dates):
    # the earliest shared start that fits 60 minutes is 19:30 London.
    ann = make_user(display_name="Ann", timezone="Europe/London", availability=EVENING)
    ben = make_user(
        display_name="Ben",
        timezone="Europe/Berlin",
        availability=[{"start": "20:30", "end": "23:30"}],
    )
    request = send(client, api_token(ben), ann.id).get_json()
    response = client.post(
        f"{API}/partner-requests/{request['id']}/accept", headers=api_token(ann)
    )
    assert response.status_code == 200
    partnership = response.get_json()["partnership"]
    assert isinstance(partnership["id"], int)
    assert partnership["daily_time"] == "19:30"
    assert partnership["timezone"] == "Europe/London"
    assert partnership["daily_time_local"] == "19:30"
    assert partnership["session_minutes"] == 60
    assert partnership["turns"] == 4
    assert partnership["weekdays"] == [0, 1, 2, 3, 4, 5, 6]
    assert partnership["status"] == "active"
    assert partnership["meeting_url"] is None
    assert partnership["partner"] == public(ben)
    assert partnership["pending"] is False and partnership["proposal"] is None
    seen_by_ben = client.get(
        f"{API}/partnerships/{partnership['id']}", headers=api_token(ben)
    ).get_json()
    assert seen_by_ben["daily_time"] == "19:30"
    assert seen_by_ben["daily_time_local"] == "20:30"
    assert seen_by_ben["partner"] == public(ann)
    requests = client.get(f"{API}/partner-requests", headers=api_token(ben)).get_json()
    assert requests["items"][0]["status"] == "accepted"
    assert requests["items"][0]["responded_at"] is not None


@pytest.mark.parametrize(
    "now, london, new_york",
    [
        # January: New York is UTC-5, London UTC+0; 14:30 NY is 19:30 London.
        (datetime(2025, 1, 15, 12, tzinfo=UTC), "19:30", "14:30"),
        # 10-16 March 2025: the US is on summer time, the UK not yet (30 March):
        # 14:30 EDT is 18:30 UTC is 18:30 London.
        (datetime(2025, 3, 10, 12, tzinfo=UTC), "18:30", "14:30"),
    ],
)
def test_daily_time_across_zones_hand_computed(app, make_user, now, london, new_york):
    accepter = make_user(timezone="Europe/London", availability=EVENING)
    requester = make_user(
        timezone="America/New_York", availability=[{"start": "14:30", "end": "17:00"}]
    )
    request = partners.send_request(requester.id, accepter.id, "", now)
    partnership = partners.accept_request(accepter.id, request.id, now)
    assert partnership.timezone == "Europe/London"
    assert partnerships.schedule_of(partnership)["daily_time"] == london
    assert partnerships.daily_time_in(partnership, "America/New_York", now) == new_york
    assert partnerships.daily_time_in(partnership, "Europe/London", now) == london


def test_accept_and_decline_only_by_the_recipient(client, pair, api_token, make_user):
    ann, ben = pair
    cat = make_user()
    request = send(client, api_token(ann), ben.id).get_json()
    rid = request["id"]
    for user in (ann, cat):
        for action in ("accept", "decline"):
            response = client.post(
                f"{API}/partner-requests/{rid}/{action}", headers=api_token(user)
            )
            assert response.status_code == 404, (user.id, action)
            assert response.get_json()["error"] == "not_found"
    for user in (ben, cat):
        response = client.post(
            f"{API}/partner-requests/{rid}/cancel", headers=api_token(user)
        )
        assert response.status_code == 404
    assert db.session.get(PartnerRequest, rid).status == "pending"
    assert count(Partnership) == 0


def test_decline(client, pair, api_token):
    ann, ben = pair
    rid = send(client, api_token(ann), ben.id).get_json()["id"]
    response = client.post(
        f"{API}/partner-requests/{rid}/decline", headers=api_token(ben)
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "declined"
    assert body["direction"] == "received"
    assert body["responded_at"] is not None
    again = client.post(f"{API}/partner-requests/{rid}/accept", headers=api_token(ben))
    assert again.status_code == 409
    assert "declined" in again.get_json()["message"]
    assert count(Partnership) == 0
    # Once declined, the pair may try again later.
    assert send(client, api_token(ann), ben.id).status_code == 201


def test_cancel(client, pair, api_token):
    ann, ben = pair
    rid = send(client, api_token(ann), ben.id).get_json()["id"]
    response = client.post(
        f"{API}/partner-requests/{rid}/cancel", headers=api_token(ann)
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    accept = client.post(f"{API}/partner-requests/{rid}/accept", headers=api_token(ben))
    assert accept.status_code == 409
    assert count(Partnership) == 0


@pytest.mark.parametrize("action", ["accept", "decline", "cancel"])
def test_unknown_request_is_404(client, pair, api_token, action):
    ann, _ = pair
    response = client.post(
        f"{API}/partner-requests/424242/{action}", headers=api_token(ann)
    )
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_accepting_twice_is_409(client, pair, api_token):
    ann, ben = pair
    rid = send(client, api_token(ann), ben.id).get_json()["id"]
    url = f"{API}/partner-requests/{rid}/accept"
    assert client.post(url, headers=api_token(ben)).status_code == 200
    assert client.post(url, headers=api_token(ben)).status_code == 409
    assert count(Partnership) == 1


# --- expiry ------------------------------------------------------------------------


def test_expired_request_cannot_be_accepted(client, pair, api_token):
    ann, ben = pair
    request = partners.send_request(ann.id, ben.id, "", utcnow() - timedelta(days=8))
    response = client.post(
        f"{API}/partner-requests/{request.id}/accept", headers=api_token(ben)
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"
    assert "expired" in response.get_json()["message"]
    assert count(Partnership) == 0
    listed = client.get(f"{API}/partner-requests", headers=api_token(ann)).get_json()
    assert listed["items"][0]["status"] == "expired"
    # An expired request no longer blocks a new one.
    assert send(client, api_token(ann), ben.id).status_code == 201


def test_request_six_days_old_can_still_be_accepted(client, pair, api_token):
    ann, ben = pair
    request = partners.send_request(ann.id, ben.id, "", utcnow() - timedelta(days=6))
    response = client.post(
        f"{API}/partner-requests/{request.id}/accept", headers=api_token(ben)
    )
    assert response.status_code == 200


def test_expiry_with_an_explicit_now(app, pair):
    ann, ben = pair
    sent = datetime(2025, 1, 1, 12, tzinfo=UTC)
    request = partners.send_request(ann.id, ben.id, "", sent)
    with pytest.raises(Conflict):
        partners.accept_request(ben.id, request.id, sent + timedelta(days=8))
    db.session.expire_all()
    assert db.session.get(PartnerRequest, request.id).status == "expired"
    assert count(Partnership) == 0


# --- the partnership limit ------------------------------------------------------


def test_partnership_limit_of_one(client, pair, api_token, make_user, make_partnership):
    ann, ben = pair
    cat = make_user(display_name="Cat", availability=EVENING)
    # Cat asked Ann before Ann paired with Ben: that request gets cancelled.
    early = send(client, api_token(cat), ann.id).get_json()
    make_partnership(ann, ben)
    db.session.expire_all()
    assert db.session.get(PartnerRequest, early["id"]).status == "cancelled"
    for sender, receiver in ((cat, ann), (ann, cat), (cat, ben)):
        response = send(client, api_token(sender), receiver.id)
        assert response.status_code == 409, (sender.id, receiver.id)
        assert response.get_json()["error"] == "conflict"
    assert count(PartnerRequest, PartnerRequest.status == "pending") == 0
    payload = suggestions(client, api_token(cat))
    assert names(payload) == []
    assert payload["at_limit"] is False
    assert suggestions(client, api_token(ann))["at_limit"] is True


def test_accept_refused_when_requester_got_a_partner_meanwhile(
    client, make_user, api_token
):
    ann = make_user(availability=EVENING)
    ben = make_user(availability=EVENING)
    cat = make_user(availability=EVENING)
    # Two requests from Ann are pending; the first accepted cancels the second.
    to_ben = send(client, api_token(ann), ben.id).get_json()
    to_cat = send(client, api_token(ann), cat.id).get_json()
    ok = client.post(
        f"{API}/partner-requests/{to_ben['id']}/accept", headers=api_token(ben)
    )
    assert ok.status_code == 200
    late = client.post(
        f"{API}/partner-requests/{to_cat['id']}/accept", headers=api_token(cat)
    )
    assert late.status_code == 409
    assert count(Partnership) == 1


# --- blocks ------------------------------------------------------------------------


def test_block_hides_both_ways_and_cancels_requests(client, crowd, api_token):
    ann, cat = crowd["ann"], crowd["cat"]
    pending = send(client, api_token(ann), cat.id).get_json()
    response = client.post(
        f"{API}/blocks", json={"user_id": cat.id}, headers=api_token(ann)
    )
    assert response.status_code == 204
    assert count(Block) == 1
    db.session.expire_all()
    assert db.session.get(PartnerRequest, pending["id"]).status == "cancelled"
    assert "Cat" not in names(suggestions(client, api_token(ann)))
    assert "Ann" not in names(suggestions(client, api_token(cat)))
    for sender, receiver in ((ann, cat), (cat, ann)):
        refused = send(client, api_token(sender), receiver.id)
        assert refused.status_code == 404
        assert refused.get_json()["error"] == "not_found"
    accept = client.post(
        f"{API}/partner-requests/{pending['id']}/accept", headers=api_token(cat)
    )
    assert accept.status_code == 409
    assert count(PartnerRequest, PartnerRequest.status == "pending") == 0
    listed = client.get(f"{API}/blocks", headers=api_token(ann)).get_json()
    assert len(listed["items"]) == 1
    assert listed["items"][0]["user"] == public(cat, exam="COMLEX Level 1")
    assert listed["items"][0]["created_at"]
    # The blocked user does not see who blocked them.
    assert client.get(f"{API}/blocks", headers=api_token(cat)).get_json() == {
        "items": []
    }


def test_block_ends_a_partnership(client, pair, api_token, make_partnership):
    ann, ben = pair
    partnership = make_partnership(ann, ben)
    client.post(f"{API}/blocks", json={"user_id": ben.id}, headers=api_token(ann))
    db.session.expire_all()
    assert db.session.get(Partnership, partnership.id).status == "ended"


def test_unblock(client, crowd, api_token):
    ann, cat = crowd["ann"], crowd["cat"]
    client.post(f"{API}/blocks", json={"user_id": cat.id}, headers=api_token(ann))
    # Only the blocker can lift a block.
    assert (
        client.delete(f"{API}/blocks/{ann.id}", headers=api_token(cat)).status_code
        == 404
    )
    response = client.delete(f"{API}/blocks/{cat.id}", headers=api_token(ann))
    assert response.status_code == 204
    assert count(Block) == 0
    assert "Cat" in names(suggestions(client, api_token(ann)))
    again = client.delete(f"{API}/blocks/{cat.id}", headers=api_token(ann))
    assert again.status_code == 404


def test_blocking_twice_keeps_one_block(client, pair, api_token):
    ann, ben = pair
    for _ in range(2):
        response = client.post(
            f"{API}/blocks", json={"user_id": ben.id}, headers=api_token(ann)
        )
        assert response.status_code == 204
    assert count(Block) == 1


@pytest.mark.parametrize(
    "body, status",
    [
        ({"user_id": "2"}, 400),
        ({"user_id": 2.0}, 400),
        ({}, 400),
        ({"user_id": 2, "reason": "rude"}, 400),
    ],
)
def test_bad_block(client, pair, api_token, body, status):
    ann, ben = pair
    assert ben.id == 2
    response = client.post(f"{API}/blocks", json=body, headers=api_token(ann))
    assert response.status_code == status
    assert response.get_json()["error"] in ("invalid", "not_found")
    assert count(Block) == 0


def test_blocking_an_unknown_id_answers_like_a_known_one(client, pair, api_token):
    # No enumeration of accounts: 204 either way, nothing stored for no one.
    ann, ben = pair
    unknown = client.post(
        f"{API}/blocks", json={"user_id": 9999}, headers=api_token(ann)
    )
    assert unknown.status_code == 204 and unknown.get_data() == b""
    assert count(Block) == 0
    assert client.get(f"{API}/blocks", headers=api_token(ann)).get_json() == {
        "items": []
    }


def test_blocks_name_only_users_met(client, crowd, api_token):
    ann, ben, cat = crowd["ann"], crowd["ben"], crowd["cat"]
    send(client, api_token(ann), cat.id)  # Ann has met Cat through a request
    for other in (ben, cat):
        client.post(f"{API}/blocks", json={"user_id": other.id}, headers=api_token(ann))
    items = client.get(f"{API}/blocks", headers=api_token(ann)).get_json()["items"]
    users = {item["user"]["id"]: item["user"] for item in items}
    assert users[ben.id] == {"id": ben.id}  # a typed id says nothing about whose
    assert users[cat.id]["display_name"] == "Cat"


def test_blocking_yourself_is_refused(client, pair, api_token):
    ann, _ = pair
    response = client.post(
        f"{API}/blocks", json={"user_id": ann.id}, headers=api_token(ann)
    )
    assert response.status_code in (400, 404)
    assert count(Block) == 0
