"""The calendar: a private feed per user and an .ics per session, read back by vobject.

The feed's instants must be the ones ally.services.schedule.list_sessions gives
(one schedule function feeds both), including across daylight-saving changes
that fall on different dates in the two partners' zones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject
from sqlalchemy import select

from ally.extensions import db
from ally.models import TeachSession, User, utcnow
from ally.services import partnerships, schedule
from ally.services.calendar import FEED_AHEAD, FEED_PAST
from tests.conftest import Browser

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
ICS_TYPE = "text/calendar"


def browser(app, email: str) -> Browser:
    """A fresh logged-in test client for one user."""
    logged_in = Browser(app.test_client())
    assert logged_in.login(email).status_code == 302
    return logged_in


def set_schedule(partnership, minute: int, tz: str, created_at: datetime) -> None:
    """Fix a partnership's daily start directly (and when it began)."""
    partnership.daily_minute = minute
    partnership.timezone = tz
    partnership.created_at = created_at
    db.session.commit()


def events(body: bytes) -> list:
    """The VEVENTs of an iCalendar document, parsed by vobject."""
    calendar = vobject.readOne(body.decode("utf-8"))
    assert calendar.name == "VCALENDAR"
    return list(calendar.contents.get("vevent", []))


def instants(body: bytes) -> dict[str, tuple[datetime, datetime]]:
    """uid -> (start, end) in UTC, as an independent parser reads them."""
    found = {}
    for event in events(body):
        start, end = event.dtstart.value, event.dtend.value
        assert start.tzinfo is not None and end.tzinfo is not None
        found[event.uid.value] = (start.astimezone(UTC), end.astimezone(UTC))
    assert len(found) == len(events(body)), "UIDs must be unique"
    return found


def expected_uid(item: schedule.SessionItem) -> str:
    if item.kind == "scheduled":
        return f"ally-{item.partnership_id}-{item.local_date.isoformat()}@ally"
    return f"ally-session-{item.id}@ally"


def listed(user_id: int, now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """What list_sessions says for the feed's window, keyed like the feed.

    iCalendar times have whole seconds, so sub-second parts (an extra session
    starts "now") are dropped before comparing.
    """
    items = schedule.list_sessions(user_id, now - FEED_PAST, now + FEED_AHEAD, now)
    return {
        expected_uid(i): (
            i.starts_at.replace(microsecond=0),
            i.ends_at.replace(microsecond=0),
        )
        for i in items
    }


def freeze_pages(monkeypatch, now: datetime) -> None:
    """Make the session pages (feed, .ics) see `now` as the current instant."""
    monkeypatch.setattr("ally.web.sessions.utcnow", lambda: now)


@pytest.fixture
def pair(app, make_user, make_partnership):
    """Ann (New York) and Ben (London), meeting at 18:00 London every day."""
    ann = make_user("ann@example.com", display_name="Ann", timezone="America/New_York")
    ben = make_user("ben@example.com", display_name="Ben", timezone="Europe/London")
    partnership = make_partnership(ann, ben)
    return ann, ben, partnership


def token_of(user_id: int) -> str | None:
    db.session.expire_all()
    return db.session.get(User, user_id).calendar_token


def test_feed_token_created_replaced_and_revoked(app, pair):
    ann, _, _ = pair
    ann_browser = browser(app, "ann@example.com")
    outsider = app.test_client()  # the feed needs no login: the token is the key
    assert 'id="feed-url"' not in ann_browser.client.get("/account").get_data(
        as_text=True
    )

    created = ann_browser.post("/account/calendar")
    assert created.status_code == 302
    assert created.headers["Location"].endswith("/account#calendar")
    first = token_of(ann.id)
    assert first and len(first) >= 24
    page = ann_browser.client.get("/account").get_data(as_text=True)
    assert f"/calendar/{first}.ics" in page

    feed = outsider.get(f"/calendar/{first}.ics")
    assert feed.status_code == 200
    assert feed.mimetype == ICS_TYPE
    assert "private" in feed.headers["Cache-Control"]
    assert events(feed.data), "an active partnership has upcoming sessions"

    assert ann_browser.post("/account/calendar").status_code == 302
    second = token_of(ann.id)
    assert second and second != first
    assert outsider.get(f"/calendar/{first}.ics").status_code == 404
    assert outsider.get(f"/calendar/{second}.ics").status_code == 200

    revoked = ann_browser.post("/account/calendar/revoke")
    assert revoked.status_code == 302
    assert token_of(ann.id) is None
    for token in (first, second):
        assert outsider.get(f"/calendar/{token}.ics").status_code == 404
    page = ann_browser.client.get("/account").get_data(as_text=True)
    assert 'id="feed-url"' not in page and second not in page


def test_unknown_feed_tokens_are_404(app, pair):
    browser(app, "ann@example.com").post("/account/calendar")
    real = token_of(pair[0].id)
    client = app.test_client()
    assert client.get(f"/calendar/{real}.ics").status_code == 200
    for token in ("nope", "x" * 24, "a" * 65, "None", real[:-1], real.upper()):
        assert client.get(f"/calendar/{token}.ics").status_code == 404, token


def test_feed_token_needs_a_csrf_token(app, pair):
    ann, _, _ = pair
    ann_browser = browser(app, "ann@example.com")
    refused = ann_browser.client.post("/account/calendar")
    assert refused.status_code == 400
    assert token_of(ann.id) is None


def test_feed_matches_list_sessions_on_the_real_clock(app, pair, monkeypatch):
    ann, _, partnership = pair
    now = utcnow()
    # Formed 50 days ago, meeting at a quarter hour in London every day.
    start = (now + timedelta(hours=3)).astimezone(LONDON)
    set_schedule(
        partnership,
        start.hour * 60 + start.minute // 15 * 15,
        "Europe/London",
        now - timedelta(days=50),
    )
    # A few stored sessions in the feed's past: held, missed; and one too old.
    for days_ago, status in ((3, "completed"), (2, "missed"), (45, "completed")):
        local_day = (now - timedelta(days=days_ago)).astimezone(LONDON).date()
        session = schedule.ensure_session(ann.id, partnership.id, local_day)
        session.status = status
    db.session.commit()
    freeze_pages(monkeypatch, now)
    browser(app, "ann@example.com").post("/account/calendar")

    body = app.test_client().get(f"/calendar/{token_of(ann.id)}.ics").data
    feed = instants(body)
    expected = listed(ann.id, now)
    assert feed == expected
    # 60 days ahead, daily, plus the two stored past ones in the last 30 days.
    assert 60 <= len(feed) <= 63
    old = (now - timedelta(days=45)).astimezone(LONDON).date().isoformat()
    assert f"ally-{partnership.id}-{old}@ally" not in feed
    statuses = {e.uid.value: e.status.value for e in events(body)}
    missed = (now - timedelta(days=2)).astimezone(LONDON).date().isoformat()
    assert statuses.pop(f"ally-{partnership.id}-{missed}@ally") == "CANCELLED"
    assert set(statuses.values()) == {"CONFIRMED"}


def test_feed_instants_across_new_york_and_london_dst(
    app, make_user, make_partnership, monkeypatch
):
    """The US moves on 8 March 2026, the UK on 29 March: three weeks apart."""
    ann = make_user("ann@example.com", display_name="Ann", timezone="America/New_York")
    ben = make_user("ben@example.com", display_name="Ben", timezone="Europe/London")
    cat = make_user("cat@example.com", display_name="Cat", timezone="Europe/London")
    dan = make_user("dan@example.com", display_name="Dan", timezone="America/New_York")
    founded = datetime(2026, 2, 1, tzinfo=UTC)
    in_london = make_partnership(ann, ben)
    set_schedule(in_london, 18 * 60, "Europe/London", founded)
    in_new_york = make_partnership(cat, dan)
    set_schedule(in_new_york, 14 * 60, "America/New_York", founded)
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    freeze_pages(monkeypatch, now)

    feeds = {}
    for user in (ann, ben, cat, dan):
        browser(app, user.email).post("/account/calendar")
        response = app.test_client().get(f"/calendar/{token_of(user.id)}.ics")
        assert response.status_code == 200
        feeds[user.email] = response.data
        assert instants(response.data) == listed(user.id, now), user.email

    # Both partners of a pair see the same meetings at the same instants.
    assert instants(feeds["ann@example.com"]) == instants(feeds["ben@example.com"])
    assert instants(feeds["cat@example.com"]) == instants(feeds["dan@example.com"])

    def start(body: bytes, pid: int, day: str) -> datetime:
        return instants(body)[f"ally-{pid}-{day}@ally"][0]

    london = feeds["ann@example.com"]
    # Fixed in London: the instant moves when the UK changes (29 March) ...
    assert start(london, in_london.id, "2026-03-07") == datetime(
        2026, 3, 7, 18, tzinfo=UTC
    )
    assert start(london, in_london.id, "2026-03-08") == datetime(
        2026, 3, 8, 18, tzinfo=UTC
    )
    assert start(london, in_london.id, "2026-03-28") == datetime(
        2026, 3, 28, 18, tzinfo=UTC
    )
    assert start(london, in_london.id, "2026-03-29") == datetime(
        2026, 3, 29, 17, tzinfo=UTC
    )
    # ... so Ann's New York wall time shifts on both dates: 13:00, 14:00, 13:00.
    ann_walls = {
        day: start(london, in_london.id, day).astimezone(NEW_YORK).strftime("%H:%M")
        for day in ("2026-03-07", "2026-03-08", "2026-03-28", "2026-03-29")
    }
    assert ann_walls == {
        "2026-03-07": "13:00",
        "2026-03-08": "14:00",
        "2026-03-28": "14:00",
        "2026-03-29": "13:00",
    }
    new_york = feeds["dan@example.com"]
    # Fixed in New York: the instant moves when the US changes (8 March).
    assert start(new_york, in_new_york.id, "2026-03-07") == datetime(
        2026, 3, 7, 19, tzinfo=UTC
    )
    assert start(new_york, in_new_york.id, "2026-03-08") == datetime(
        2026, 3, 8, 18, tzinfo=UTC
    )
    assert start(new_york, in_new_york.id, "2026-03-29") == datetime(
        2026, 3, 29, 18, tzinfo=UTC
    )
    # Each event is written in its partnership's own zone, with a VTIMEZONE.
    london_text = london.decode()
    assert "DTSTART;TZID=Europe/London:20260329T180000" in london_text
    assert "BEGIN:VTIMEZONE" in london_text and "TZID:Europe/London" in london_text
    assert "DTSTART;TZID=America/New_York:20260308T140000" in new_york.decode()
    # One event per local date, from 1 March (now is 12:00 UTC) for 60 days:
    # 30 April's 18:00 BST start is after now + 60 days (30 April, 12:00 UTC).
    days = [uid.split("@")[0][-10:] for uid in instants(london)]
    assert len(days) == len(set(days)) == 60
    assert min(days) == "2026-03-01" and max(days) == "2026-04-29"


def test_uids_are_stable_when_a_session_is_stored(app, pair, monkeypatch):
    ann, _, partnership = pair
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    set_schedule(
        partnership, 18 * 60, "Europe/London", datetime(2026, 2, 1, tzinfo=UTC)
    )
    freeze_pages(monkeypatch, now)
    ann_browser = browser(app, "ann@example.com")
    ann_browser.post("/account/calendar")
    url = f"/calendar/{token_of(ann.id)}.ics"

    before = instants(app.test_client().get(url).data)
    assert instants(app.test_client().get(url).data) == before
    uid = f"ally-{partnership.id}-2026-03-10@ally"
    assert uid in before

    stored = schedule.ensure_session(ann.id, partnership.id, date(2026, 3, 10))
    after = instants(app.test_client().get(url).data)
    assert after == before  # the stored row keeps the computed event's UID

    one = ann_browser.client.get(f"/sessions/{stored.id}/calendar.ics")
    assert instants(one.data) == {uid: before[uid]}


def test_a_schedule_change_moves_or_cancels_stored_meetings_in_the_feed(
    app, pair, monkeypatch
):
    ann, ben, partnership = pair
    now = utcnow()
    set_schedule(partnership, 18 * 60, "Europe/London", now - timedelta(days=20))
    moved_day, dropped_day = (
        (now + timedelta(days=days)).astimezone(LONDON).date() for days in (3, 4)
    )
    for day in (moved_day, dropped_day):  # stored, as a reminder or a page does
        schedule.ensure_session(ann.id, partnership.id, day)
    freeze_pages(monkeypatch, now)
    browser(app, "ann@example.com").post("/account/calendar")
    url = f"/calendar/{token_of(ann.id)}.ics"

    def feed() -> dict[str, tuple[str, datetime]]:
        body = app.test_client().get(url).data
        instants(body)  # one event per UID
        return {
            e.uid.value: (e.status.value, e.dtstart.value.astimezone(LONDON))
            for e in events(body)
        }

    def uid(day: date) -> str:
        return f"ally-{partnership.id}-{day.isoformat()}@ally"

    assert feed()[uid(dropped_day)][0] == "CONFIRMED"
    # 20:30 now, and no longer on the dropped day's weekday.
    weekdays = [d for d in range(7) if d != dropped_day.weekday()]
    for user in (ann, ben):  # proposed, then agreed
        partnerships.update_partnership(
            user.id, partnership.id, {"daily_time": "20:30", "weekdays": weekdays}
        )

    for stored_again in (False, True):
        if stored_again:  # the new meeting stored too: still one event
            schedule.ensure_session(ann.id, partnership.id, moved_day)
        after = feed()
        # The moved meeting keeps its UID: calendar apps move the event.
        status, start = after[uid(moved_day)]
        assert (status, start.strftime("%H:%M")) == ("CONFIRMED", "20:30")
        # The dropped one stays, cancelled at its old time: calendars remove it.
        status, start = after[uid(dropped_day)]
        assert (status, start.strftime("%H:%M")) == ("CANCELLED", "18:00")


def test_extra_sessions_get_their_own_uid(app, pair, monkeypatch):
    ann, _, partnership = pair
    now = utcnow()
    freeze_pages(monkeypatch, now)
    extra = schedule.create_extra_session(ann.id, partnership.id, now)
    ann_browser = browser(app, "ann@example.com")
    ann_browser.post("/account/calendar")
    feed = instants(app.test_client().get(f"/calendar/{token_of(ann.id)}.ics").data)
    start, end = feed[f"ally-session-{extra.id}@ally"]
    assert abs(start - extra.starts_at) < timedelta(seconds=1)
    assert end - start == timedelta(seconds=extra.turns * 15 * 60)
    assert feed == listed(ann.id, now)


def test_session_ics_download(app, pair, make_user):
    ann, ben, partnership = pair
    partnership.meeting_url = "https://meet.example.com/ann-ben"
    db.session.commit()
    day = (utcnow() + timedelta(days=2)).astimezone(LONDON).date()
    session = schedule.ensure_session(ann.id, partnership.id, day)
    schedule.set_planned_topic(ann.id, session.id, "Renal clearance")
    ann_browser = browser(app, "ann@example.com")

    response = ann_browser.client.get(f"/sessions/{session.id}/calendar.ics")
    assert response.status_code == 200
    assert response.mimetype == ICS_TYPE
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="ally-session-{session.id}.ics"'
    )
    (event,) = events(response.data)
    assert event.uid.value == f"ally-{partnership.id}-{day.isoformat()}@ally"
    assert event.dtstart.value.astimezone(UTC) == session.starts_at
    assert event.dtend.value.astimezone(UTC) == session.ends_at
    assert "Ben" in event.summary.value
    assert "You will teach: Renal clearance" in event.description.value
    assert event.location.value == "https://meet.example.com/ann-ben"

    # Ben's copy of the same meeting: same UID and instants, not Ann's topic.
    (his,) = events(
        browser(app, "ben@example.com")
        .client.get(f"/sessions/{session.id}/calendar.ics")
        .data
    )
    assert his.uid.value == event.uid.value
    assert his.dtstart.value == event.dtstart.value
    assert "Renal clearance" not in his.description.value
    assert "Ann" in his.summary.value


def test_someone_elses_session_ics_is_404(app, pair, make_user):
    ann, _, partnership = pair
    make_user("cat@example.com", display_name="Cat")
    day = (utcnow() + timedelta(days=2)).astimezone(LONDON).date()
    session = schedule.ensure_session(ann.id, partnership.id, day)
    cat = browser(app, "cat@example.com").client
    theirs = cat.get(f"/sessions/{session.id}/calendar.ics")
    missing = cat.get(f"/sessions/{session.id + 1000}/calendar.ics")
    assert theirs.status_code == missing.status_code == 404
    assert b"BEGIN:VCALENDAR" not in theirs.data
    # Logged out: sent to log in, no calendar either.
    anonymous = app.test_client().get(f"/sessions/{session.id}/calendar.ics")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert db.session.scalar(select(TeachSession.id)) == session.id
