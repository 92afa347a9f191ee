"""API: sessions (stored and computed), topics, extra sessions, schedule agreement,
notifications."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session as OrmSession

from ally.extensions import db
from ally.models import (
    Notification,
    Partnership,
    SessionParticipant,
    TeachSession,
    utcnow,
)
from ally.services import schedule, tokens
from tests.conftest import pair_up, postgres_app, user_maker

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")

API = "/api/v1"
LONDON = ZoneInfo("Europe/London")
EVENING = [{"start": "18:00", "end": "22:00"}]
# The contract grows only by adding fields: these must always be there.
ITEM_KEYS = {
    "id",
    "partnership_id",
    "local_date",
    "starts_at",
    "ends_at",
    "status",
    "kind",
    "first_teacher_id",
    "partner",
}
SESSION_KEYS = ITEM_KEYS | {
    "phase",
    "turn",
    "phase_ends_at",
    "started_at",
    "ended_at",
    "meeting_url",
    "participants",
    "plan",
}


@pytest.fixture
def setup(app, make_user, make_partnership, api_token):
    """Ann and Ben, partners since 20 days ago, meeting at 18:00 London daily."""
    ann = make_user("ann@example.com", display_name="Ann", availability=EVENING)
    ben = make_user("ben@example.com", display_name="Ben", availability=EVENING)
    partnership = make_partnership(ann, ben)
    partnership.created_at = utcnow() - timedelta(days=20)
    db.session.commit()
    return {
        "ann": ann,
        "ben": ben,
        "id": partnership.id,
        "a": api_token(ann),
        "b": api_token(ben),
        "client": app.test_client(),
    }


def iso(value: datetime) -> str:
    return value.isoformat()


def parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed.astimezone(UTC)


def london_day(days_from_now: int) -> date:
    return (utcnow() + timedelta(days=days_from_now)).astimezone(LONDON).date()


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def stored_session(setup, day: date, status: str | None = None) -> TeachSession:
    session = schedule.ensure_session(setup["ann"].id, setup["id"], day)
    if status:
        session.status = status
        db.session.commit()
    return session


def list_sessions(setup, who="a", **params):
    return setup["client"].get(
        f"{API}/sessions", query_string=params, headers=setup[who]
    )


# --- GET /sessions ------------------------------------------------------------


def test_list_gives_stored_and_computed_sessions_in_a_range(setup):
    start_day = (utcnow() + timedelta(days=2)).date()
    start = datetime.combine(start_day, time(0), tzinfo=UTC)
    stored = stored_session(setup, start_day + timedelta(days=1))

    response = list_sessions(
        setup, **{"from": iso(start), "to": iso(start + timedelta(days=5))}
    )

    assert response.status_code == 200
    items = response.get_json()["items"]
    assert all(ITEM_KEYS <= set(item) for item in items)
    # Daily at 18:00 London is 17:00 or 18:00 UTC: five UTC days, five meetings.
    assert [item["local_date"] for item in items] == [
        (start_day + timedelta(days=n)).isoformat() for n in range(5)
    ]
    assert [item["id"] for item in items] == [None, stored.id, None, None, None]
    assert isinstance(stored.id, int)
    expected = schedule.list_sessions(
        setup["ann"].id, start, start + timedelta(days=5), utcnow()
    )
    assert [parse(item["starts_at"]) for item in items] == [
        e.starts_at for e in expected
    ]
    for item in items:
        local = parse(item["starts_at"]).astimezone(LONDON)
        assert local.strftime("%H:%M") == "18:00"
        assert parse(item["ends_at"]) - parse(item["starts_at"]) == timedelta(hours=1)
        assert (item["status"], item["kind"]) == ("scheduled", "scheduled")
        assert item["partnership_id"] == setup["id"]
        assert item["partner"]["display_name"] == "Ben"
    # Who teaches first alternates day by day.
    firsts = [item["first_teacher_id"] for item in items]
    assert set(firsts) == {setup["ann"].id, setup["ben"].id}
    assert all(a != b for a, b in zip(firsts, firsts[1:], strict=False))
    # Ben sees the same meetings, with Ann as the partner.
    his = list_sessions(
        setup, who="b", **{"from": iso(start), "to": iso(start + timedelta(days=5))}
    ).get_json()["items"]
    assert [(i["id"], i["starts_at"]) for i in his] == [
        (i["id"], i["starts_at"]) for i in items
    ]
    assert {i["partner"]["display_name"] for i in his} == {"Ann"}


def test_list_defaults_to_seven_days_back_and_fourteen_ahead(setup):
    recent = stored_session(setup, london_day(-5), "completed")
    old = stored_session(setup, london_day(-10), "missed")
    now = utcnow()

    items = list_sessions(setup).get_json()["items"]

    ids = [item["id"] for item in items]
    assert recent.id in ids and old.id not in ids
    starts = [parse(item["starts_at"]) for item in items]
    assert starts == sorted(starts)
    assert min(starts) >= now - timedelta(days=7)
    assert max(starts) < utcnow() + timedelta(days=14)
    upcoming = [item for item in items if item["id"] is None]
    assert 13 <= len(upcoming) <= 15  # daily; a DST change may shift one
    assert all(parse(item["starts_at"]) > now for item in upcoming)
    done = next(item for item in items if item["id"] == recent.id)
    assert done["status"] == "completed"


@pytest.mark.parametrize("days", [0, -1])
def test_to_not_after_from_is_400(setup, days):
    start = utcnow()
    response = list_sessions(
        setup, **{"from": iso(start), "to": iso(start + timedelta(days=days))}
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid" and "`to` must be after `from`" in body["message"]
    assert body["field"] == "to"


def test_a_range_over_92_days_is_400(setup):
    start = utcnow()
    ok = list_sessions(
        setup, **{"from": iso(start), "to": iso(start + timedelta(days=92))}
    )
    assert ok.status_code == 200
    assert len(ok.get_json()["items"]) >= 91
    too_long = list_sessions(
        setup,
        **{"from": iso(start), "to": iso(start + timedelta(days=92, seconds=1))},
    )
    assert too_long.status_code == 400
    body = too_long.get_json()
    assert body["error"] == "invalid" and "92 days" in body["message"]


NAIVE_OR_MALFORMED = [
    {"from": "2026-12-01T00:00:00"},
    {"to": "2026-12-01T00:00:00"},
    {"from": "2026-12-01T00:00:00+00:00", "to": "2026-12-05T00:00:00"},
    {"from": "2026-12-01"},
    {"from": "tomorrow"},
]


def test_naive_or_malformed_instants_are_400(setup):
    for params in NAIVE_OR_MALFORMED:
        response = list_sessions(setup, **params)
        assert response.status_code == 400, params
        body = response.get_json()
        assert body["error"] == "invalid", params
        assert isinstance(body["message"], str) and body["message"]
        assert set(body["errors"]["query"]) <= {"from", "to"}


def test_list_needs_credentials(setup):
    response = setup["client"].get(f"{API}/sessions")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


# --- GET /sessions/<id> -------------------------------------------------------


def test_one_session_with_plan_and_participants(setup):
    partnership = db.session.get(Partnership, setup["id"])
    partnership.meeting_url = "https://meet.example.com/ab"
    db.session.commit()
    stored = stored_session(setup, london_day(3))

    response = setup["client"].get(f"{API}/sessions/{stored.id}", headers=setup["a"])

    assert response.status_code == 200
    body = response.get_json()
    assert SESSION_KEYS <= set(body)
    assert body["id"] == stored.id
    assert body["local_date"] == stored.local_date.isoformat()
    assert parse(body["starts_at"]) == stored.starts_at
    assert (body["status"], body["phase"], body["turn"]) == ("scheduled", "waiting", 0)
    assert body["meeting_url"] == "https://meet.example.com/ab"
    first, second = stored.first_teacher_id, stored.second_teacher_id
    assert body["first_teacher_id"] == first
    assert body["plan"] == [
        {
            "index": n,
            "teacher_id": (first, second)[n % 2],
            "listener_id": (second, first)[n % 2],
            "teach_seconds": 720,
            "rate_seconds": 180,
        }
        for n in range(4)
    ]
    participants = {p["user_id"]: p for p in body["participants"]}
    assert set(participants) == {setup["ann"].id, setup["ben"].id}
    assert participants[setup["ben"].id]["display_name"] == "Ben"
    assert participants[setup["ann"].id]["planned_topic"] is None
    assert participants[setup["ann"].id]["absent"] is False


def test_someone_elses_session_is_404(setup, make_user, api_token):
    stored = stored_session(setup, london_day(3))
    cat = api_token(make_user("cat@example.com"))
    client = setup["client"]
    theirs = client.get(f"{API}/sessions/{stored.id}", headers=cat)
    missing = client.get(f"{API}/sessions/{stored.id + 999}", headers=cat)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()
    assert theirs.get_json()["error"] == "not_found"
    put = client.put(
        f"{API}/sessions/{stored.id}/topic", json={"title": "Mine"}, headers=cat
    )
    assert put.status_code == 404
    assert count(SessionParticipant, SessionParticipant.planned_topic.is_not(None)) == 0


# --- PUT /sessions/<id>/topic -------------------------------------------------


def planned(session_id: int, user_id: int) -> str | None:
    db.session.expire_all()
    return db.session.get(SessionParticipant, (session_id, user_id)).planned_topic


def put_topic(setup, session_id, body, who="a"):
    return setup["client"].put(
        f"{API}/sessions/{session_id}/topic", json=body, headers=setup[who]
    )


def test_prepare_a_topic_then_clear_it(setup):
    stored = stored_session(setup, london_day(3))
    ann, ben = setup["ann"].id, setup["ben"].id

    saved = put_topic(setup, stored.id, {"title": "  Renin   angiotensin  system "})
    assert saved.status_code == 200
    mine = {p["user_id"]: p for p in saved.get_json()["participants"]}
    assert mine[ann]["planned_topic"] == "Renin angiotensin system"
    assert planned(stored.id, ann) == "Renin angiotensin system"
    assert planned(stored.id, ben) is None

    longest = "x" * 120
    assert put_topic(setup, stored.id, {"title": longest}).status_code == 200
    assert planned(stored.id, ann) == longest

    cleared = put_topic(setup, stored.id, {"title": None})
    assert cleared.status_code == 200
    assert planned(stored.id, ann) is None


def test_invalid_topics_are_400_and_save_nothing(setup):
    stored = stored_session(setup, london_day(3))
    put_topic(setup, stored.id, {"title": "Before"})

    for body in ({"title": "y" * 121}, {}, {"title": 42}, {"title": ["a"]}):
        response = put_topic(setup, stored.id, body)
        assert response.status_code == 400, body
        assert response.get_json()["error"] == "invalid", body
        assert planned(stored.id, setup["ann"].id) == "Before", body


def test_topic_of_a_session_that_is_over_is_409(setup):
    for days_ago, status in ((2, "completed"), (3, "missed"), (4, "cancelled")):
        stored = stored_session(setup, london_day(-days_ago), status)
        response = put_topic(setup, stored.id, {"title": "Too late"})
        assert response.status_code == 409, status
        assert response.get_json()["error"] == "conflict"
        assert planned(stored.id, setup["ann"].id) is None


# --- POST /partnerships/<id>/sessions -----------------------------------------


def extra(setup, body, who="a", pid=None):
    return setup["client"].post(
        f"{API}/partnerships/{pid or setup['id']}/sessions",
        json=body,
        headers=setup[who],
    )


def notifications_of(user_id: int, kind: str) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.user_id == user_id, Notification.kind == kind
            )
        )
    )


def test_extra_session_with_defaults(setup):
    before = utcnow()
    response = extra(setup, {})
    assert response.status_code == 201
    body = response.get_json()
    assert SESSION_KEYS <= set(body)
    assert isinstance(body["id"], int)
    assert (body["kind"], body["status"], body["phase"]) == ("extra", "open", "waiting")
    assert body["first_teacher_id"] == setup["ann"].id
    assert before <= parse(body["starts_at"]) <= utcnow()
    assert parse(body["ends_at"]) - parse(body["starts_at"]) == timedelta(minutes=60)
    assert [(t["teach_seconds"], t["rate_seconds"]) for t in body["plan"]] == [
        (720, 180)
    ] * 4
    assert [t["teacher_id"] for t in body["plan"]] == [
        setup["ann"].id,
        setup["ben"].id,
    ] * 2
    stored = db.session.get(TeachSession, body["id"])
    assert (stored.kind, stored.scheduled_date, stored.turns) == ("extra", None, 4)
    (told,) = notifications_of(setup["ben"].id, "session_open")
    assert told.url == f"/sessions/{body['id']}"
    assert "Ann" in told.text
    assert notifications_of(setup["ann"].id, "session_open") == []
    # It is listed like any other session, with its id.
    listed = list_sessions(setup, who="b").get_json()["items"]
    assert body["id"] in [item["id"] for item in listed]


def test_extra_session_bounds_come_from_config(app, setup):
    app.config.update(ALLY_MIN_TEACH_SECONDS=5, ALLY_MIN_RATE_SECONDS=3)
    quick = extra(setup, {"turns": 2, "teach_seconds": 5, "rate_seconds": 3})
    assert quick.status_code == 201
    body = quick.get_json()
    assert [(t["teach_seconds"], t["rate_seconds"]) for t in body["plan"]] == [
        (5, 3),
        (5, 3),
    ]
    assert parse(body["ends_at"]) - parse(body["starts_at"]) == timedelta(seconds=16)
    for field, value in (("teach_seconds", 4), ("rate_seconds", 2)):
        response = extra(setup, {"teach_seconds": 5, "rate_seconds": 3, field: value})
        assert response.status_code == 400, field
        assert response.get_json()["field"] == field

    app.config.update(ALLY_MIN_TEACH_SECONDS=60, ALLY_MIN_RATE_SECONDS=30)
    assert extra(setup, {"teach_seconds": 59}).status_code == 400
    assert extra(setup, {"rate_seconds": 29}).status_code == 400
    # One extra session at a time: the quick one is over first.
    db.session.get(TeachSession, body["id"]).status = "completed"
    db.session.commit()
    assert extra(setup, {"teach_seconds": 60, "rate_seconds": 30}).status_code == 201
    assert count(TeachSession) == 2


INVALID_EXTRA = [
    {"turns": 3},
    {"turns": 0},
    {"turns": 8},
    {"turns": 4.0},
    {"turns": "4"},
    {"turns": True},
    {"turns": None},
    {"teach_seconds": 90.5},
    {"teach_seconds": "600"},
    {"teach_seconds": True},
    {"rate_seconds": 60.0},
    {"rate_seconds": False},
    {"teach_seconds": 30 * 60 + 1},
    {"rate_seconds": 10 * 60 + 1},
    {"teach_seconds": -720},
    {"surprise": 1},
]


def test_invalid_extra_sessions_are_400_and_write_nothing(setup):
    notes = count(Notification)
    for body in INVALID_EXTRA:
        response = extra(setup, body)
        assert response.status_code == 400, body
        payload = response.get_json()
        assert payload["error"] == "invalid" and payload["message"], body
        assert count(TeachSession) == 0, body
        assert count(SessionParticipant) == 0, body
        assert count(Notification) == notes, body


def test_extra_session_for_someone_elses_partnership_is_404(
    setup, make_user, api_token
):
    setup["c"] = api_token(make_user("cat@example.com"))
    theirs = extra(setup, {}, who="c")
    missing = extra(setup, {}, who="c", pid=setup["id"] + 999)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()
    assert count(TeachSession) == 0


def test_extra_session_of_a_paused_partnership_is_409(setup):
    paused = setup["client"].patch(
        f"{API}/partnerships/{setup['id']}",
        json={"status": "paused"},
        headers=setup["b"],
    )
    assert paused.status_code == 200
    response = extra(setup, {})
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"
    assert count(TeachSession) == 0
    assert notifications_of(setup["ben"].id, "session_open") == []


def test_extra_session_while_one_is_live_is_409(setup):
    first = extra(setup, {}).get_json()
    live = db.session.get(TeachSession, first["id"])
    live.status = "live"
    db.session.commit()
    response = extra(setup, {}, who="b")
    assert response.status_code == 409
    assert count(TeachSession) == 1


def session_rows() -> dict[str, list[tuple]]:
    """Every row an extra session writes, in primary-key order."""
    db.session.expire_all()
    return {
        model.__tablename__: [
            tuple(row)
            for row in db.session.execute(
                select(model.__table__).order_by(*model.__table__.primary_key)
            )
        ]
        for model in (TeachSession, SessionParticipant, Notification, Partnership)
    }


@pytest.mark.parametrize("status", ["open", "live", "scheduled"])
def test_a_second_extra_session_while_one_is_not_over_is_409(setup, status):
    first = extra(setup, {}).get_json()
    stored = db.session.get(TeachSession, first["id"])
    stored.status = status
    db.session.commit()
    before = session_rows()

    for who in ("a", "a", "b"):  # a double click, then the partner
        again = extra(setup, {"turns": 2}, who=who)
        assert again.status_code == 409, who
        payload = again.get_json()
        assert payload["error"] == "conflict"
        assert f"session {first['id']}" in payload["message"]
        assert session_rows() == before, who

    # Once it is over, the next one may start, under a new id.
    stored = db.session.get(TeachSession, first["id"])
    stored.status = "cancelled"
    db.session.commit()
    later = extra(setup, {}, who="b")
    assert later.status_code == 201
    assert later.get_json()["id"] > first["id"]


@contextmanager
def both_pause_before_storing_a_session() -> Iterator[None]:
    """Hold each request thread at its flush of a new TeachSession until both are
    there: the interleaving a race needs (both checked, neither wrote). If the
    code serializes the two (a lock), the wait times out and each goes alone."""
    barrier = threading.Barrier(2)

    def pause(session, flush_context, instances) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        if any(isinstance(obj, TeachSession) for obj in session.new):
            try:
                barrier.wait(timeout=2)
            except threading.BrokenBarrierError:
                pass

    event.listen(OrmSession, "before_flush", pause)
    try:
        yield
    finally:
        event.remove(OrmSession, "before_flush", pause)


def race_two_extra_sessions(application, headers: list[dict]) -> list[int]:
    """POST an extra session from two threads at once; their status codes."""
    statuses: list[int] = []

    def post(auth: dict) -> None:
        response = application.test_client().post(
            f"{API}/partnerships/{pid}/sessions", json={}, headers=auth
        )
        statuses.append(response.status_code)

    pid = db.session.scalar(select(Partnership.id))
    with both_pause_before_storing_a_session():
        threads = [threading.Thread(target=post, args=(auth,)) for auth in headers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return sorted(statuses)


def test_two_extra_sessions_asked_for_at_once_make_one(setup):
    statuses = race_two_extra_sessions(setup["client"].application, [setup["a"]] * 2)
    assert statuses == [201, 409]
    assert count(TeachSession) == 1
    assert count(SessionParticipant) == 2


@pytest.mark.postgres
def test_two_extra_sessions_asked_for_at_once_make_one_on_postgres():
    with postgres_app() as application:
        make = user_maker()
        ann, ben = make(availability=EVENING), make(availability=EVENING)
        pair_up(ann, ben)
        headers = []
        for user in (ann, ben):
            _, raw = tokens.create_token(user.id, "tests")
            headers.append({"Authorization": f"Bearer {raw}"})
        statuses = race_two_extra_sessions(application, headers)
        assert statuses == [201, 409]
        assert count(TeachSession) == 1


# --- PATCH /partnerships/<id>: schedule by agreement --------------------------


def test_schedule_proposal_then_agreement_notifies_both(setup):
    client, pid = setup["client"], setup["id"]
    stored_id = stored_session(setup, london_day(3)).id
    change = {"daily_time": "20:30", "turns": 2}

    proposed = client.patch(
        f"{API}/partnerships/{pid}", json=change, headers=setup["a"]
    )
    assert proposed.status_code == 202
    assert proposed.get_json()["proposal"] == change
    (note,) = notifications_of(setup["ben"].id, "schedule_proposed")
    assert "Ann" in note.text and "20:30" in note.text
    assert note.url == f"/partnerships/{pid}"
    assert notifications_of(setup["ann"].id, "schedule_proposed") == []
    # Nothing changes until Ben agrees: the stored session is still there.
    assert count(TeachSession, TeachSession.id == stored_id) == 1

    agreed = client.patch(f"{API}/partnerships/{pid}", json=change, headers=setup["b"])
    assert agreed.status_code == 200
    assert agreed.get_json()["daily_time"] == "20:30"
    assert agreed.get_json()["pending"] is False
    for user in ("ann", "ben"):
        (changed,) = notifications_of(setup[user].id, "schedule_changed")
        assert "20:30" in changed.text and "2 turns" in changed.text
    # The stored (not yet open) session is called off; the new schedule rules.
    assert count(TeachSession, TeachSession.id == stored_id) == 1
    assert db.session.get(TeachSession, stored_id).status == "cancelled"
    items = list_sessions(setup).get_json()["items"]
    upcoming = [item for item in items if item["id"] is None]
    assert upcoming
    for item in upcoming:
        assert parse(item["starts_at"]).astimezone(LONDON).strftime("%H:%M") == "20:30"
        assert parse(item["ends_at"]) - parse(item["starts_at"]) == timedelta(hours=1)

    # And Ann's notifications API shows the change too.
    listed = client.get(f"{API}/notifications", headers=setup["a"]).get_json()
    assert listed["items"][0]["kind"] == "schedule_changed"


SAME_MEETING = ("id", "partnership_id", "local_date", "starts_at", "ends_at", "kind")


def test_a_schedule_change_calls_off_announced_sessions_under_their_own_ids(setup):
    client, pid = setup["client"], setup["id"]
    day = london_day(3)
    announced = stored_session(setup, day)  # its link went out in a reminder
    later = stored_session(setup, london_day(4))
    seen = client.get(f"{API}/sessions/{announced.id}", headers=setup["b"]).get_json()
    assert seen["status"] == "scheduled"
    version = announced.version

    change = {"daily_time": "20:30"}
    proposed = client.patch(
        f"{API}/partnerships/{pid}", json=change, headers=setup["a"]
    )
    assert proposed.status_code == 202
    agreed = client.patch(f"{API}/partnerships/{pid}", json=change, headers=setup["b"])
    assert agreed.status_code == 200

    # The old link still opens the meeting it announced, now called off.
    for who in ("a", "b"):
        response = client.get(f"{API}/sessions/{announced.id}", headers=setup[who])
        assert response.status_code == 200
        body = response.get_json()
        assert {k: body[k] for k in SAME_MEETING} == {k: seen[k] for k in SAME_MEETING}
        assert (body["status"], body["phase"]) == ("cancelled", "done")
        assert body["ended_at"] is not None
    db.session.expire_all()
    assert db.session.get(TeachSession, announced.id).version == version + 1
    assert db.session.get(TeachSession, later.id).status == "cancelled"

    # The new schedule's meeting of that date is a new row with a new id,
    # greater than every earlier one (SQLite would reuse a deleted max id).
    fresh = stored_session(setup, day)
    assert fresh.id > max(announced.id, later.id)
    assert fresh.starts_at.astimezone(LONDON).strftime("%H:%M") == "20:30"
    that_day = [
        (item["id"], item["status"])
        for item in list_sessions(setup).get_json()["items"]
        if item["local_date"] == day.isoformat()
    ]
    assert sorted(that_day) == [(announced.id, "cancelled"), (fresh.id, "scheduled")]


# --- notifications ------------------------------------------------------------


def test_notifications_list_and_read(setup):
    client = setup["client"]
    extra(setup, {})  # Ben: "Ann started an extra session"
    client.patch(
        f"{API}/partnerships/{setup['id']}",
        json={"daily_time": "19:00"},
        headers=setup["a"],
    )  # Ben: "Ann proposed a new schedule"

    listed = client.get(f"{API}/notifications", headers=setup["b"])
    assert listed.status_code == 200
    body = listed.get_json()
    kinds = [item["kind"] for item in body["items"]]
    # Newest first; the oldest is Ann's partner request.
    assert kinds == ["schedule_proposed", "session_open", "request_received"]
    assert body["unread"] == 3
    assert all(item["read_at"] is None for item in body["items"])
    assert set(body["items"][0]) == {
        "id",
        "kind",
        "text",
        "url",
        "created_at",
        "read_at",
    }
    limited = client.get(
        f"{API}/notifications", query_string={"limit": 1}, headers=setup["b"]
    )
    assert [i["kind"] for i in limited.get_json()["items"]] == ["schedule_proposed"]

    newest = body["items"][0]["id"]
    read = client.post(f"{API}/notifications/{newest}/read", headers=setup["b"])
    assert read.status_code == 200
    assert read.get_json()["id"] == newest and read.get_json()["read_at"]
    unread = client.get(
        f"{API}/notifications", query_string={"unread": "true"}, headers=setup["b"]
    ).get_json()
    assert [i["kind"] for i in unread["items"]] == ["session_open", "request_received"]
    assert unread["unread"] == 2

    marked = client.post(f"{API}/notifications/read", headers=setup["b"])
    assert marked.status_code == 200 and marked.get_json() == {"marked": 2}
    assert client.post(f"{API}/notifications/read", headers=setup["b"]).get_json() == {
        "marked": 0
    }
    after = client.get(f"{API}/notifications", headers=setup["b"]).get_json()
    assert after["unread"] == 0
    assert all(item["read_at"] for item in after["items"])
    # Ann's own notification (Ben accepted her request) is still unread.
    assert (
        client.get(f"{API}/notifications", headers=setup["a"]).get_json()["unread"] == 1
    )


def test_someone_elses_notification_is_404_and_stays_unread(setup):
    bens = notifications_of(setup["ben"].id, "session_open")
    assert bens == []
    extra(setup, {})
    (note,) = notifications_of(setup["ben"].id, "session_open")
    client = setup["client"]
    theirs = client.post(f"{API}/notifications/{note.id}/read", headers=setup["a"])
    missing = client.post(
        f"{API}/notifications/{note.id + 999}/read", headers=setup["a"]
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()
    # Reading all of Ann's does not touch Ben's.
    client.post(f"{API}/notifications/read", headers=setup["a"])
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is None


# --- OpenAPI ------------------------------------------------------------------


def test_openapi_lists_the_session_and_notification_paths(setup):
    spec = setup["client"].get(f"{API}/openapi.json").get_json()
    paths = spec["paths"]
    expected = {
        f"{API}/sessions": {"get"},
        f"{API}/sessions/{{session_id}}": {"get"},
        f"{API}/sessions/{{session_id}}/topic": {"put"},
        f"{API}/partnerships/{{partnership_id}}/sessions": {"post"},
        f"{API}/partnerships/{{partnership_id}}": {"get", "patch", "delete"},
        f"{API}/notifications": {"get"},
        f"{API}/notifications/read": {"post"},
        f"{API}/notifications/{{notification_id}}/read": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path
    query = {p["name"] for p in paths[f"{API}/sessions"]["get"]["parameters"]}
    assert {"from", "to"} <= query
    created = paths[f"{API}/partnerships/{{partnership_id}}/sessions"]["post"]
    assert {"201", "400", "404", "409"} <= set(created["responses"])
    topic = paths[f"{API}/sessions/{{session_id}}/topic"]["put"]
    assert {"200", "404", "409"} <= set(topic["responses"])
    patch = paths[f"{API}/partnerships/{{partnership_id}}"]["patch"]
    assert {"200", "202"} <= set(patch["responses"])
