"""API: GET, PATCH and DELETE /me — the caller's own profile."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import ApiToken, Partnership, Profile, Topic, User
from tests.conftest import PASSWORD

API = "/api/v1"
ME_KEYS = {
    "id",
    "email",
    "display_name",
    "timezone",
    "exam",
    "exam_date",
    "subjects",
    "bio",
    "looking_for_partner",
    "auto_match",
    "availability",
}


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def ann(make_user):
    return make_user(
        "ann@example.com",
        display_name="Ann",
        timezone="Europe/London",
        availability=[{"start": "18:00", "end": "22:00"}],
        exam="USMLE Step 1",
        exam_date="2026-06-01",
        subjects=["Renal", "Cardio"],
    )


@pytest.fixture
def headers(ann, api_token):
    return api_token(ann)


def test_get_me_exact_shape(client, ann, headers):
    response = client.get(f"{API}/me", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "id": ann.id,
        "email": "ann@example.com",
        "display_name": "Ann",
        "timezone": "Europe/London",
        "exam": "USMLE Step 1",
        "exam_date": "2026-06-01",
        "subjects": ["Renal", "Cardio"],
        "bio": "",
        "looking_for_partner": True,
        "auto_match": False,
        "availability": [{"start": "18:00", "end": "22:00", "weekdays": None}],
        "allowed_terms": [],
    }


def test_patch_every_field(client, ann, headers):
    body = {
        "display_name": "Ann B.",
        "timezone": "America/New_York",
        "exam": "COMLEX Level 1",
        "exam_date": "2026-07-15",
        "subjects": ["Pharm", "  Micro  ", "pharm"],
        "bio": "Night owl.",
        "looking_for_partner": False,
        "auto_match": True,
        "availability": [
            {"start": "22:00", "end": "01:00"},
            {"start": "07:00", "end": "08:30", "weekdays": [0, 2, 4]},
        ],
        "allowed_terms": ["angiotensin", "  Renin ", "renin", ""],
    }
    response = client.patch(f"{API}/me", json=body, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "id": ann.id,
        "email": "ann@example.com",
        "display_name": "Ann B.",
        "timezone": "America/New_York",
        "exam": "COMLEX Level 1",
        "exam_date": "2026-07-15",
        "subjects": ["Pharm", "Micro"],
        "bio": "Night owl.",
        "looking_for_partner": False,
        "auto_match": True,
        "availability": [
            {"start": "07:00", "end": "08:30", "weekdays": [0, 2, 4]},
            {"start": "22:00", "end": "01:00", "weekdays": None},
        ],
        "allowed_terms": ["angiotensin", "Renin"],
    }
    # Persisted, not only echoed.
    again = client.get(f"{API}/me", headers=headers).get_json()
    assert again == response.get_json()


def test_patch_is_partial(client, ann, headers):
    response = client.patch(f"{API}/me", json={"bio": "Hi"}, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["bio"] == "Hi"
    assert body["display_name"] == "Ann"
    assert body["subjects"] == ["Renal", "Cardio"]
    assert body["availability"] == [
        {"start": "18:00", "end": "22:00", "weekdays": None}
    ]


def test_patch_empty_body_changes_nothing(client, ann, headers):
    before = client.get(f"{API}/me", headers=headers).get_json()
    response = client.patch(f"{API}/me", json={}, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == before


def test_overlapping_windows_on_the_same_days_are_merged(client, headers):
    response = client.patch(
        f"{API}/me",
        json={
            "availability": [
                {"start": "10:00", "end": "12:00"},
                {"start": "11:30", "end": "13:00"},
            ]
        },
        headers=headers,
    )
    assert response.status_code == 200
    assert response.get_json()["availability"] == [
        {"start": "10:00", "end": "13:00", "weekdays": None}
    ]


def test_limits_are_inclusive(client, headers):
    body = {
        "display_name": "n" * 60,
        "bio": "b" * 1000,
        "exam": "e" * 80,
        "subjects": [f"Subject {i}" for i in range(12)],
        "availability": [
            {"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(6)
        ],
    }
    response = client.patch(f"{API}/me", json=body, headers=headers)
    assert response.status_code == 200
    got = response.get_json()
    assert len(got["display_name"]) == 60
    assert len(got["bio"]) == 1000
    assert len(got["availability"]) == 6
    assert len(got["subjects"]) == 12


def _windows(n):
    return [{"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(n)]


BAD_PATCHES = [
    pytest.param({"timezone": "Mars/Olympus_Mons"}, "timezone", id="unknown-zone"),
    pytest.param({"timezone": ""}, "timezone", id="empty-zone"),
    pytest.param({"timezone": 5}, "timezone", id="zone-not-text"),
    pytest.param(
        {"availability": [{"start": "25:00", "end": "26:00"}]},
        "availability",
        id="hour-25",
    ),
    pytest.param(
        {"availability": [{"start": "7pm", "end": "9pm"}]}, "availability", id="7pm"
    ),
    pytest.param(
        {"availability": [{"start": "18:60", "end": "19:00"}]},
        "availability",
        id="minute-60",
    ),
    pytest.param(
        {"availability": [{"start": "24:00", "end": "01:00"}]},
        "availability",
        id="start-24",
    ),
    pytest.param(
        {"availability": [{"start": "18:00", "end": "18:00"}]},
        "availability",
        id="empty-window",
    ),
    pytest.param(
        {"availability": [{"start": "18:00"}]}, "availability", id="missing-end"
    ),
    pytest.param({"availability": _windows(7)}, "availability", id="7-windows"),
    pytest.param(
        {
            "availability": [
                {"start": "10:00", "end": "12:00", "weekdays": [0, 1]},
                {"start": "11:00", "end": "13:00", "weekdays": [1, 2]},
            ]
        },
        "availability",
        id="overlap-different-weekdays",
    ),
    pytest.param(
        {
            "availability": [
                {"start": "23:00", "end": "02:00", "weekdays": [0]},
                {"start": "01:00", "end": "03:00", "weekdays": [1]},
            ]
        },
        "availability",
        id="overlap-across-midnight",
    ),
    pytest.param(
        {"availability": [{"start": "10:00", "end": "12:00", "weekdays": [7]}]},
        "availability",
        id="weekday-7",
    ),
    pytest.param(
        {"availability": [{"start": "10:00", "end": "12:00", "weekdays": []}]},
        "availability",
        id="no-weekdays",
    ),
    pytest.param(
        {"availability": [{"start": "10:00", "end": "12:00", "weekdays": [1.5]}]},
        "availability",
        id="float-weekday",
    ),
    pytest.param(
        {"availability": [{"start": 600, "end": 720}]}, "availability", id="int-times"
    ),
    pytest.param(
        {"availability": {"start": "10:00"}}, "availability", id="obj-not-list"
    ),
    pytest.param(
        {"availability": [["10:00", "12:00"]]}, "availability", id="list-item"
    ),
    pytest.param({"display_name": "x" * 61}, "display_name", id="name-61"),
    pytest.param({"display_name": "   "}, "display_name", id="name-blank"),
    pytest.param({"display_name": None}, "display_name", id="name-null"),
    pytest.param({"bio": "b" * 1001}, "bio", id="bio-1001"),
    pytest.param({"exam": "e" * 81}, "exam", id="exam-81"),
    pytest.param({"subjects": ["s" * 41]}, "subjects", id="subject-41"),
    pytest.param(
        {"subjects": [f"S{i}" for i in range(13)]}, "subjects", id="13-subjects"
    ),
    pytest.param({"subjects": "Renal"}, "subjects", id="subjects-string"),
    pytest.param({"subjects": [1, 2]}, "subjects", id="subjects-ints"),
    pytest.param({"looking_for_partner": "true"}, "looking_for_partner", id="str-bool"),
    pytest.param({"auto_match": 1}, "auto_match", id="int-bool"),
    pytest.param({"exam_date": "2026-13-01"}, "exam_date", id="bad-date"),
    pytest.param({"exam_date": "1999-12-31"}, "exam_date", id="date-too-early"),
    pytest.param({"exam_date": 20260601}, "exam_date", id="date-int"),
    pytest.param({"email": "new@example.com"}, "email", id="email-not-patchable"),
    pytest.param({"id": 99}, "id", id="id-not-patchable"),
    pytest.param({"favourite_colour": "blue"}, "favourite_colour", id="unknown-field"),
    pytest.param(
        {"display_name": "Changed", "timezone": "Nowhere/City"},
        "timezone",
        id="valid-plus-invalid",
    ),
]


@pytest.mark.parametrize("body, field", BAD_PATCHES)
def test_bad_patch_is_400_and_writes_nothing(client, ann, headers, body, field):
    before = client.get(f"{API}/me", headers=headers).get_json()
    response = client.patch(f"{API}/me", json=body, headers=headers)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["error"] == "invalid"
    assert isinstance(payload["message"], str) and payload["message"]
    assert field in payload["message"] or payload.get("field") == field
    db.session.expire_all()
    assert client.get(f"{API}/me", headers=headers).get_json() == before
    profile = db.session.get(Profile, ann.id) or db.session.scalar(
        select(Profile).where(Profile.user_id == ann.id)
    )
    assert profile.availability == [
        {"start": "18:00", "end": "22:00", "weekdays": None}
    ]
    assert db.session.get(User, ann.id).display_name == "Ann"


def test_time_errors_say_what_is_wrong(client, headers):
    response = client.patch(
        f"{API}/me",
        json={"availability": [{"start": "7pm", "end": "21:00"}]},
        headers=headers,
    )
    assert response.status_code == 400
    assert "'7pm' is not a time of day" in response.get_json()["message"]
    seven = client.patch(
        f"{API}/me", json={"availability": _windows(7)}, headers=headers
    )
    assert "at most 6" in seven.get_json()["message"]


def test_delete_me_needs_the_password(client, ann, headers):
    response = client.delete(
        f"{API}/me", json={"password": "not my password"}, headers=headers
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"
    assert count(User, User.id == ann.id) == 1
    missing = client.delete(f"{API}/me", json={}, headers=headers)
    assert missing.status_code == 400
    assert count(User, User.id == ann.id) == 1


def test_delete_me_removes_the_account_and_ends_partnerships(
    client, ann, headers, make_user, make_partnership, api_token
):
    ben = make_user("ben@example.com")
    partnership = make_partnership(ann, ben)
    client.post(f"{API}/topics", json={"title": "Nephron"}, headers=headers)
    response = client.delete(f"{API}/me", json={"password": PASSWORD}, headers=headers)
    assert response.status_code == 204
    assert count(User, User.id == ann.id) == 0
    assert count(Topic) == 0
    assert count(ApiToken, ApiToken.user_id == ann.id) == 0
    assert client.get(f"{API}/me", headers=headers).status_code == 401
    db.session.expire_all()
    ended = db.session.get(Partnership, partnership.id)
    assert ended.status == "ended"
    seen_by_ben = client.get(
        f"{API}/partnerships/{partnership.id}", headers=api_token(ben)
    )
    assert seen_by_ben.status_code == 200
    assert seen_by_ben.get_json()["status"] == "ended"
    assert seen_by_ben.get_json()["partner"] is None
