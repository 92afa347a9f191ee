"""API: partnerships — list, get, change by agreement, pause, end."""

from __future__ import annotations

import pytest

from ally.extensions import db
from ally.models import Partnership

API = "/api/v1"
EVENING = [{"start": "18:00", "end": "22:00"}]
PARTNERSHIP_KEYS = {
    "id",
    "status",
    "partner",
    "daily_time",
    "timezone",
    "session_minutes",
    "turns",
    "weekdays",
    "daily_time_local",
    "meeting_url",
    "created_at",
    "ended_at",
    "proposal",
    "proposed_by_id",
    "pending",
}


@pytest.fixture
def setup(make_user, make_partnership, api_token):
    ann = make_user("ann@example.com", display_name="Ann", availability=EVENING)
    ben = make_user("ben@example.com", display_name="Ben", availability=EVENING)
    partnership = make_partnership(ann, ben)
    return {
        "ann": ann,
        "ben": ben,
        "id": partnership.id,
        "a": api_token(ann),
        "b": api_token(ben),
    }


def url(pid) -> str:
    return f"{API}/partnerships/{pid}"


def stored(pid) -> Partnership:
    db.session.expire_all()
    return db.session.get(Partnership, pid)


def schedule(p: Partnership) -> tuple:
    return (p.daily_minute, p.timezone, p.session_minutes, p.turns, p.weekdays)


def test_list_and_get(client, setup):
    listed = client.get(f"{API}/partnerships", headers=setup["a"])
    assert listed.status_code == 200
    items = listed.get_json()["items"]
    assert len(items) == 1
    item = items[0]
    assert set(item) == PARTNERSHIP_KEYS
    assert item["id"] == setup["id"] and isinstance(item["id"], int)
    assert item["daily_time"] == "18:00"
    assert item["timezone"] == "Europe/London"
    assert item["status"] == "active"
    assert item["partner"]["display_name"] == "Ben"
    one = client.get(url(setup["id"]), headers=setup["a"])
    assert one.status_code == 200
    assert one.get_json() == item
    from_ben = client.get(url(setup["id"]), headers=setup["b"]).get_json()
    assert from_ben["partner"]["display_name"] == "Ann"


def test_others_and_unknown_partnerships_are_404(client, setup, make_user, api_token):
    cat = api_token(make_user())
    assert client.get(f"{API}/partnerships", headers=cat).get_json() == {"items": []}
    for method, kwargs in (
        ("get", {}),
        ("patch", {"json": {"meeting_url": "https://evil.example.com"}}),
        ("delete", {}),
    ):
        theirs = getattr(client, method)(url(setup["id"]), headers=cat, **kwargs)
        missing = getattr(client, method)(url(31337), headers=cat, **kwargs)
        assert theirs.status_code == missing.status_code == 404, method
        assert theirs.get_json() == missing.get_json()
    p = stored(setup["id"])
    assert p.meeting_url is None and p.status == "active"


def test_schedule_change_is_a_proposal_until_the_partner_agrees(client, setup):
    pid = setup["id"]
    before = schedule(stored(pid))
    change = {"daily_time": "19:15", "turns": 6, "weekdays": [0, 2, 4]}
    proposed = client.patch(url(pid), json=change, headers=setup["a"])
    assert proposed.status_code == 202
    body = proposed.get_json()
    assert body["pending"] is True
    assert body["proposal"] == {
        "daily_time": "19:15",
        "turns": 6,
        "weekdays": [0, 2, 4],
    }
    assert body["proposed_by_id"] == setup["ann"].id
    assert body["daily_time"] == "18:00" and body["turns"] == 4
    assert schedule(stored(pid)) == before

    # The proposer repeating it is still a proposal.
    again = client.patch(url(pid), json=change, headers=setup["a"])
    assert again.status_code == 202
    assert schedule(stored(pid)) == before

    # The partner sees it and sends the same values: in effect.
    seen = client.get(url(pid), headers=setup["b"]).get_json()
    assert seen["pending"] is True and seen["proposal"] == body["proposal"]
    agreed = client.patch(url(pid), json=change, headers=setup["b"])
    assert agreed.status_code == 200
    after = agreed.get_json()
    assert after["daily_time"] == "19:15"
    assert after["turns"] == 6
    assert after["weekdays"] == [0, 2, 4]
    assert after["pending"] is False and after["proposal"] is None
    assert after["proposed_by_id"] is None
    p = stored(pid)
    assert (p.daily_minute, p.turns, p.weekdays) == (19 * 60 + 15, 6, 0b10101)


def test_partner_sending_different_values_makes_a_counter_proposal(client, setup):
    pid = setup["id"]
    client.patch(url(pid), json={"daily_time": "19:15"}, headers=setup["a"])
    counter = client.patch(url(pid), json={"daily_time": "20:00"}, headers=setup["b"])
    assert counter.status_code == 202
    assert counter.get_json()["proposal"] == {"daily_time": "20:00"}
    assert counter.get_json()["proposed_by_id"] == setup["ben"].id
    assert stored(pid).daily_minute == 18 * 60
    agreed = client.patch(url(pid), json={"daily_time": "20:00"}, headers=setup["a"])
    assert agreed.status_code == 200
    assert stored(pid).daily_minute == 20 * 60


def test_proposal_in_another_time_zone(client, setup):
    pid = setup["id"]
    change = {"timezone": "America/New_York", "daily_time": "14:00"}
    assert client.patch(url(pid), json=change, headers=setup["b"]).status_code == 202
    agreed = client.patch(url(pid), json=change, headers=setup["a"])
    assert agreed.status_code == 200
    body = agreed.get_json()
    assert (body["timezone"], body["daily_time"]) == ("America/New_York", "14:00")
    # Ann's own zone is London: 14:00 New York is 19:00 or 18:00 London.
    assert body["daily_time_local"] in ("19:00", "18:00")


def test_meeting_url_and_status_apply_at_once(client, setup):
    pid = setup["id"]
    response = client.patch(
        url(pid),
        json={"meeting_url": "https://meet.example.com/ally-42", "status": "paused"},
        headers=setup["a"],
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["meeting_url"] == "https://meet.example.com/ally-42"
    assert body["status"] == "paused"
    assert body["pending"] is False
    p = stored(pid)
    assert (p.meeting_url, p.status) == ("https://meet.example.com/ally-42", "paused")
    resumed = client.patch(url(pid), json={"status": "active"}, headers=setup["b"])
    assert resumed.status_code == 200
    cleared = client.patch(url(pid), json={"meeting_url": None}, headers=setup["b"])
    assert cleared.get_json()["meeting_url"] is None
    assert stored(pid).status == "active"


def test_immediate_change_with_a_proposal(client, setup):
    pid = setup["id"]
    response = client.patch(
        url(pid),
        json={"meeting_url": "https://meet.example.com/x", "turns": 2},
        headers=setup["a"],
    )
    assert response.status_code == 202
    p = stored(pid)
    assert p.meeting_url == "https://meet.example.com/x"
    assert p.turns == 4
    assert p.proposal == {"turns": 2}


BAD_PATCHES = [
    ({"turns": 3}, "turns"),
    ({"turns": 4.0}, "turns"),
    ({"turns": "4"}, "turns"),
    ({"turns": True}, "turns"),
    ({"session_minutes": 20}, "session_minutes"),
    ({"session_minutes": 91}, "session_minutes"),
    ({"session_minutes": 60.5}, "session_minutes"),
    ({"weekdays": [7]}, "weekdays"),
    ({"weekdays": []}, "weekdays"),
    ({"weekdays": [-1]}, "weekdays"),
    ({"weekdays": "0,1"}, "weekdays"),
    ({"weekdays": [0.0]}, "weekdays"),
    ({"timezone": "Atlantis/Capital"}, "timezone"),
    ({"timezone": None}, "timezone"),
    ({"daily_time": "25:00"}, "daily_time"),
    ({"daily_time": "7pm"}, "daily_time"),
    ({"daily_time": "24:00"}, "daily_time"),
    ({"daily_time": 1900}, "daily_time"),
    ({"meeting_url": "javascript:alert(1)"}, "meeting_url"),
    ({"meeting_url": "ftp://files.example.com"}, "meeting_url"),
    ({"meeting_url": "meet.example.com"}, "meeting_url"),
    ({"meeting_url": "https://"}, "meeting_url"),
    ({"meeting_url": "https://x.example.com/" + "a" * 500}, "meeting_url"),
    ({"meeting_url": 5}, "meeting_url"),
    ({"status": "ended"}, "status"),
    ({"status": "done"}, "status"),
    ({"partner_id": 3}, "partner_id"),
    ({"meeting_url": "https://ok.example.com", "turns": 3}, "turns"),
    ({"status": "paused", "session_minutes": 200}, "session_minutes"),
]


def test_invalid_patch_is_400_and_changes_nothing(client, setup):
    pid = setup["id"]
    before = client.get(url(pid), headers=setup["a"]).get_json()
    for body, field in BAD_PATCHES:
        response = client.patch(url(pid), json=body, headers=setup["a"])
        assert response.status_code == 400, body
        payload = response.get_json()
        assert payload["error"] == "invalid", body
        assert field in payload["message"] or payload.get("field") == field, payload
        assert client.get(url(pid), headers=setup["a"]).get_json() == before, body
    p = stored(pid)
    assert p.proposal is None and p.meeting_url is None and p.status == "active"


def test_delete_ends_the_partnership(client, setup, make_user, api_token):
    pid = setup["id"]
    response = client.delete(url(pid), headers=setup["b"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ended"
    assert body["ended_at"] is not None
    assert stored(pid).status == "ended"
    # Still listed for both, as history.
    listed = client.get(f"{API}/partnerships", headers=setup["a"]).get_json()
    assert [(p["id"], p["status"]) for p in listed["items"]] == [(pid, "ended")]
    for change in ({"meeting_url": "https://meet.example.com"}, {"turns": 2}):
        refused = client.patch(url(pid), json=change, headers=setup["a"])
        assert refused.status_code == 409
        assert refused.get_json()["error"] == "conflict"
    assert stored(pid).meeting_url is None
    # Both are free to find someone new.
    cat = make_user(availability=EVENING)
    sent = client.post(
        f"{API}/partner-requests", json={"to_user_id": cat.id}, headers=setup["a"]
    )
    assert sent.status_code == 201
    # Ending twice is harmless.
    assert client.delete(url(pid), headers=setup["a"]).status_code == 200


def test_ending_drops_a_pending_proposal(client, setup):
    pid = setup["id"]
    client.patch(url(pid), json={"turns": 6}, headers=setup["a"])
    client.delete(url(pid), headers=setup["a"])
    p = stored(pid)
    assert p.proposal is None and p.turns == 4


def test_partner_resending_an_unrelated_value_does_not_agree(client, setup):
    pid = setup["id"]
    client.patch(url(pid), json={"turns": 6}, headers=setup["a"])
    # Ben re-sends the current daily time: that is not agreeing to six turns.
    response = client.patch(url(pid), json={"daily_time": "18:00"}, headers=setup["b"])
    assert response.status_code == 202
    p = stored(pid)
    assert p.turns == 4
    assert p.proposal == {"turns": 6} and p.proposed_by_id == setup["ann"].id


def test_agreeing_to_part_of_a_proposal_does_not_apply_the_rest(client, setup):
    pid = setup["id"]
    client.patch(url(pid), json={"turns": 6, "daily_time": "19:00"}, headers=setup["a"])
    response = client.patch(url(pid), json={"turns": 6}, headers=setup["b"])
    assert response.status_code == 202
    p = stored(pid)
    assert (p.turns, p.daily_minute) == (4, 18 * 60)
    # Ben's answer is his own proposal now: six turns at the current time.
    assert p.proposal == {"turns": 6} and p.proposed_by_id == setup["ben"].id
    agreed = client.patch(url(pid), json={"turns": 6}, headers=setup["a"])
    assert agreed.status_code == 200
    assert (stored(pid).turns, stored(pid).daily_minute) == (6, 18 * 60)
