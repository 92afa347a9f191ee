"""Session pages: the list, one session (prepare to teach), a date's session, extra
sessions, the dashboard's next session and week strip, notification settings."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import (
    Notification,
    Partnership,
    SessionParticipant,
    TeachSession,
    User,
    utcnow,
)
from ally.services import partnerships, schedule
from tests.conftest import Browser

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def browser_for(app):
    """A logged-in browser of its own for a user's email."""

    def login(email: str) -> Browser:
        browser = Browser(app.test_client())
        assert browser.login(email).status_code == 302
        return browser

    return login


@pytest.fixture
def pair(make_user, make_partnership):
    """Ann in New York, Ben in London: 18:00 London daily, partners for 10 days."""
    ann = make_user("ann@example.com", display_name="Ann", timezone="America/New_York")
    ben = make_user("ben@example.com", display_name="Ben", timezone="Europe/London")
    partnership = make_partnership(ann, ben)
    partnership.daily_minute = 18 * 60
    partnership.timezone = "Europe/London"
    partnership.created_at = utcnow() - timedelta(days=10)
    db.session.commit()
    return ann, ben, partnership


def words(markup: str) -> str:
    """The text of some HTML: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def text_of(response) -> str:
    return words(response.get_data(as_text=True))


def flashes(response) -> list[str]:
    raw = response.get_data(as_text=True)
    return [
        html.unescape(m)
        for m in re.findall(r'<p class="flash flash-\w+">([^<]*)</p>', raw)
    ]


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def london_day(days_from_now: int) -> date:
    return (utcnow() + timedelta(days=days_from_now)).astimezone(LONDON).date()


def planned(session_id: int, user_id: int) -> str | None:
    db.session.expire_all()
    return db.session.get(SessionParticipant, (session_id, user_id)).planned_topic


def turn_lines(response) -> list[str]:
    """The lines of a session page's turn plan, in order."""
    raw = response.get_data(as_text=True)
    plan = re.search(r'<ol class="turn-plan">(.*?)</ol>', raw, re.S)[1]
    return [words(li) for li in re.findall(r"<li>(.*?)</li>", plan, re.S)]


# --- /sessions/<id> -----------------------------------------------------------


def test_session_page_shows_both_zones_and_who_teaches_each_turn(pair, browser_for):
    ann, ben, partnership = pair
    session = schedule.ensure_session(ann.id, partnership.id, london_day(3))
    ann_teaches_first = session.first_teacher_id == ann.id

    response = browser_for("ann@example.com").client.get(f"/sessions/{session.id}")
    page = text_of(response)

    assert "Teach-back hour with Ben" in page
    ann_time = session.starts_at.astimezone(NEW_YORK).strftime("%A %d %B, %H:%M")
    ben_time = session.starts_at.astimezone(LONDON).strftime("%H:%M")
    assert ben_time == "18:00"
    assert f"{ann_time} your time (America/New_York)" in page
    assert f"{ben_time} for Ben (Europe/London)" in page
    assert "60 minutes" in page
    mine = "You teach for 12 min, then Ben rates it (3 min)."
    theirs = "Ben teaches for 12 min, then you rate it (3 min)."
    expected = [mine, theirs] * 2 if ann_teaches_first else [theirs, mine] * 2
    assert turn_lines(response) == expected

    # Ben sees the same session from his side: his own zone, Ann's time too.
    his_response = browser_for("ben@example.com").client.get(f"/sessions/{session.id}")
    his = text_of(his_response)
    ann_wall = session.starts_at.astimezone(NEW_YORK).strftime("%H:%M")
    assert "18:00 your time (Europe/London)" in his
    assert f"{ann_wall} for Ann (America/New_York)" in his
    first_line = turn_lines(his_response)[0]
    assert first_line.startswith("Ann teaches" if ann_teaches_first else "You teach")


def test_prepare_to_teach_saves_the_planned_topic(pair, browser_for):
    ann, ben, partnership = pair
    session = schedule.ensure_session(ann.id, partnership.id, london_day(2))
    ann_browser = browser_for("ann@example.com")
    page_path = f"/sessions/{session.id}"

    saved = ann_browser.post(
        f"/sessions/{session.id}/topic",
        {"topic": "Renin–angiotensin <system>"},
        csrf_page=page_path,
    )

    assert saved.status_code == 302
    assert saved.headers["Location"].endswith(page_path)
    assert planned(session.id, ann.id) == "Renin–angiotensin <system>"
    assert planned(session.id, ben.id) is None
    shown = ann_browser.client.get(page_path)
    assert "Saved: you will teach that, from memory." in flashes(shown)
    raw = shown.get_data(as_text=True)
    assert 'value="Renin–angiotensin &lt;system&gt;"' in raw
    assert "<system>" not in raw
    # Ben sees what Ann will teach.
    his = text_of(browser_for("ben@example.com").client.get(page_path))
    assert "Ann will teach: Renin–angiotensin <system>" in his

    cleared = ann_browser.post(
        f"/sessions/{session.id}/topic", {"topic": "  "}, csrf_page=page_path
    )
    assert cleared.status_code == 302
    assert planned(session.id, ann.id) is None


def test_prepare_without_csrf_is_refused(pair, browser_for):
    ann, _, partnership = pair
    session = schedule.ensure_session(ann.id, partnership.id, london_day(2))
    client = browser_for("ann@example.com").client
    refused = client.post(f"/sessions/{session.id}/topic", data={"topic": "Sneaky"})
    assert refused.status_code == 400
    forged = client.post(
        f"/sessions/{session.id}/topic",
        data={"topic": "Sneaky", "csrf_token": "not-a-token"},
    )
    assert forged.status_code == 400
    assert planned(session.id, ann.id) is None


def test_an_over_long_topic_gives_a_message_and_saves_nothing(pair, browser_for):
    ann, _, partnership = pair
    session = schedule.ensure_session(ann.id, partnership.id, london_day(2))
    schedule.set_planned_topic(ann.id, session.id, "Before")
    ann_browser = browser_for("ann@example.com")
    page_path = f"/sessions/{session.id}"

    response = ann_browser.post(
        f"/sessions/{session.id}/topic", {"topic": "z" * 121}, csrf_page=page_path
    )

    assert response.status_code == 302
    assert planned(session.id, ann.id) == "Before"
    shown = ann_browser.client.get(page_path)
    assert "Use at most 120 characters for a topic." in flashes(shown)


def test_someone_elses_session_page_is_404(pair, make_user, browser_for):
    ann, _, partnership = pair
    make_user("cat@example.com", display_name="Cat")
    session = schedule.ensure_session(ann.id, partnership.id, london_day(2))
    cat = browser_for("cat@example.com")
    assert cat.client.get(f"/sessions/{session.id}").status_code == 404
    assert cat.client.get(f"/sessions/{session.id + 999}").status_code == 404
    posted = cat.post(f"/sessions/{session.id}/topic", {"topic": "Mine now"})
    assert posted.status_code == 404
    assert planned(session.id, ann.id) is None


# --- /partnerships/<pid>/on/<date> --------------------------------------------


def test_a_scheduled_date_is_stored_on_first_visit(pair, browser_for):
    ann, ben, partnership = pair
    day = london_day(4)
    client = browser_for("ann@example.com").client
    assert count(TeachSession) == 0

    first = client.get(f"/partnerships/{partnership.id}/on/{day.isoformat()}")

    assert first.status_code == 302
    session = db.session.scalars(select(TeachSession)).one()
    assert first.headers["Location"].endswith(f"/sessions/{session.id}")
    assert (session.scheduled_date, session.kind, session.status) == (
        day,
        "scheduled",
        "scheduled",
    )
    assert session.starts_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") == (
        f"{day.isoformat()} 18:00"
    )
    assert count(SessionParticipant, SessionParticipant.session_id == session.id) == 2
    # A second visit, by either partner, finds the same row.
    again = browser_for("ben@example.com").client.get(
        f"/partnerships/{partnership.id}/on/{day.isoformat()}"
    )
    assert again.headers["Location"].endswith(f"/sessions/{session.id}")
    assert count(TeachSession) == 1


def test_dates_without_a_session_are_404(pair, make_user, browser_for):
    ann, _, partnership = pair
    # Weekdays only: a Saturday has no session.
    partnership.weekdays = 0b0011111
    db.session.commit()
    saturday = london_day(1)
    while saturday.weekday() != 5:
        saturday += timedelta(days=1)
    client = browser_for("ann@example.com").client
    base = f"/partnerships/{partnership.id}/on"
    for day in (
        saturday.isoformat(),
        london_day(-30).isoformat(),  # before the partnership began
        "2026-13-01",
        "2026-02-30",
        "tomorrow",
        "2026-12-1x",
    ):
        assert client.get(f"{base}/{day}").status_code == 404, day
    make_user("cat@example.com")
    monday = saturday + timedelta(days=2)
    cat = browser_for("cat@example.com").client
    assert cat.get(f"{base}/{monday.isoformat()}").status_code == 404
    assert count(TeachSession) == 0


def test_a_session_called_off_by_a_schedule_change_keeps_its_page(pair, browser_for):
    ann, ben, partnership = pair
    day = london_day(3)
    client = browser_for("ben@example.com").client
    link = client.get(f"/partnerships/{partnership.id}/on/{day.isoformat()}")
    announced = link.headers["Location"]  # e.g. /sessions/1, as a reminder sends it
    assert "18:00" in text_of(client.get(announced))

    for user in (ann, ben):  # proposed, then agreed
        partnerships.update_partnership(
            user.id, partnership.id, {"daily_time": "20:30"}
        )

    page = client.get(announced)
    assert page.status_code == 200
    shown = text_of(page)
    # The same meeting (18:00 London on that date), called off.
    assert f"{day.strftime('%A %d %B')}, 18:00" in shown
    assert "Status: cancelled" in shown
    assert "This session was called off." in shown
    assert 'id="join-room"' not in page.get_data(as_text=True)
    # That date's new meeting is another page, under a new id.
    moved = client.get(f"/partnerships/{partnership.id}/on/{day.isoformat()}")
    assert moved.headers["Location"] != announced
    assert f"{day.strftime('%A %d %B')}, 20:30" in text_of(
        client.get(moved.headers["Location"])
    )


# --- extra sessions from the partnership page ---------------------------------


def test_start_an_extra_session_from_the_partnership_page(pair, browser_for):
    ann, ben, partnership = pair
    ann_browser = browser_for("ann@example.com")
    page = ann_browser.client.get(f"/partnerships/{partnership.id}")
    action = f'action="/partnerships/{partnership.id}/sessions"'
    assert action in page.get_data(as_text=True)

    started = ann_browser.post(
        f"/partnerships/{partnership.id}/sessions",
        csrf_page=f"/partnerships/{partnership.id}",
    )

    assert started.status_code == 302
    session = db.session.scalars(select(TeachSession)).one()
    assert started.headers["Location"].endswith(f"/sessions/{session.id}")
    assert (session.kind, session.status, session.first_teacher_id) == (
        "extra",
        "open",
        ann.id,
    )
    shown = ann_browser.client.get(f"/sessions/{session.id}")
    assert "Extra session started: your partner has been told." in flashes(shown)
    assert "extra session" in text_of(shown)
    told = db.session.scalars(
        select(Notification).where(
            Notification.user_id == ben.id, Notification.kind == "session_open"
        )
    ).one()
    assert told.url == f"/sessions/{session.id}"


def rows_of_sessions() -> list[list[tuple]]:
    db.session.expire_all()
    return [
        [tuple(row) for row in db.session.execute(select(model.__table__))]
        for model in (TeachSession, SessionParticipant, Notification)
    ]


def test_a_second_click_on_start_leads_to_the_session_under_way(pair, browser_for):
    ann, ben, partnership = pair
    start = f"/partnerships/{partnership.id}/sessions"
    page = f"/partnerships/{partnership.id}"
    ann_browser = browser_for("ann@example.com")
    first = ann_browser.post(start, csrf_page=page)
    session = db.session.scalars(select(TeachSession)).one()
    assert first.headers["Location"].endswith(f"/sessions/{session.id}")
    before = rows_of_sessions()

    for browser in (ann_browser, browser_for("ben@example.com")):
        again = browser.post(start, csrf_page=page)
        assert again.status_code == 302
        assert again.headers["Location"].endswith(f"/sessions/{session.id}")
        assert rows_of_sessions() == before
        shown = browser.client.get(f"/sessions/{session.id}")
        assert flashes(shown) == [
            f"An extra session of this partnership is already under way "
            f"(session {session.id}): join it instead of starting another."
        ]


def test_an_extra_session_of_a_paused_partnership_is_refused(pair, browser_for):
    ann, _, partnership = pair
    partnership.status = "paused"
    db.session.commit()
    ann_browser = browser_for("ann@example.com")
    page = ann_browser.client.get(f"/partnerships/{partnership.id}")
    assert f'action="/partnerships/{partnership.id}/sessions"' not in page.get_data(
        as_text=True
    )

    refused = ann_browser.post(
        f"/partnerships/{partnership.id}/sessions",
        csrf_page=f"/partnerships/{partnership.id}",
    )

    assert refused.status_code == 302
    assert refused.headers["Location"].endswith(f"/partnerships/{partnership.id}")
    assert count(TeachSession) == 0
    shown = ann_browser.client.get(f"/partnerships/{partnership.id}")
    assert "Only an active partnership can start a session." in flashes(shown)


# --- /sessions ----------------------------------------------------------------


def test_sessions_page_lists_upcoming_and_past_in_the_viewers_zone(pair, browser_for):
    ann, _, partnership = pair
    done = schedule.ensure_session(ann.id, partnership.id, london_day(-2))
    done.status = "completed"
    stored = schedule.ensure_session(ann.id, partnership.id, london_day(2))
    db.session.commit()

    page = browser_for("ann@example.com").client.get("/sessions")
    raw = html.unescape(page.get_data(as_text=True))

    upcoming, past = raw.split('id="past-heading"')
    ny = stored.starts_at.astimezone(NEW_YORK).strftime("%a %d %b, %H:%M")
    assert f'<a href="/sessions/{stored.id}">{ny}</a>' in upcoming
    # Computed days link to their date, which stores them on a visit.
    soon = schedule.list_sessions(
        ann.id, utcnow(), utcnow() + timedelta(days=2), utcnow()
    )
    computed = [i for i in soon if i.id is None]
    assert computed
    assert f"/partnerships/{partnership.id}/on/{computed[0].local_date}" in upcoming
    assert upcoming.count("<tr>") >= 13
    ny_done = done.starts_at.astimezone(NEW_YORK).strftime("%a %d %b, %H:%M")
    assert f'<a href="/sessions/{done.id}">{ny_done}</a>' in past
    assert "completed" in past


# --- the dashboard ------------------------------------------------------------


def next_card(response) -> str:
    raw = response.get_data(as_text=True)
    match = re.search(
        r'<article class="next-session" id="next-session">(.*?)</article>', raw, re.S
    )
    assert match, "no #next-session card"
    return match[1]


def test_dashboard_next_session_card(pair, browser_for):
    ann, _, partnership = pair
    now = utcnow()
    coming = schedule.next_session(ann.id, now)
    assert coming is not None and coming.id is None

    card_html = next_card(browser_for("ann@example.com").client.get("/"))
    card = words(card_html)

    ny = coming.starts_at.astimezone(NEW_YORK).strftime("%A %d %B, %H:%M")
    assert f"{ny} your time" in card
    london = coming.starts_at.astimezone(LONDON).strftime("%H:%M")
    assert f"({london} for Ben)" in card
    first = (
        "you teach first" if coming.first_teacher_id == ann.id else "Ben teaches first"
    )
    assert first in card
    assert "Starts in" in card
    day_url = f"/partnerships/{partnership.id}/on/{coming.local_date.isoformat()}"
    assert f'href="{day_url}"' in card_html
    assert "Prepare what you will teach" in card

    # Once stored and open, the card links to the room itself.
    stored = schedule.ensure_session(ann.id, partnership.id, coming.local_date)
    stored.status = "open"
    db.session.commit()
    card_html = next_card(browser_for("ann@example.com").client.get("/"))
    assert f'href="/sessions/{stored.id}"' in card_html
    assert "Join the room" in words(card_html)


def test_no_next_session_card_without_a_partner(make_user, browser_for):
    make_user("solo@example.com")
    page = browser_for("solo@example.com").client.get("/")
    assert page.status_code == 200
    assert 'id="next-session"' not in page.get_data(as_text=True)


def test_week_strip_streak_and_attendance(pair, browser_for):
    ann, ben, partnership = pair
    # Dated from Ann's today in New York; 18:00 London is the same date there.
    ann_today = utcnow().astimezone(NEW_YORK).date()
    history = {
        6: "completed",
        5: "missed",  # Ann did not come in
        4: "completed",
        3: "completed",
        2: "cancelled",  # skipped: neither held nor missed
        1: "completed",
    }
    for days_ago, status in history.items():
        day = ann_today - timedelta(days=days_ago)
        session = schedule.ensure_session(ann.id, partnership.id, day)
        session.status = status
        if status == "missed":
            db.session.get(SessionParticipant, (session.id, ann.id)).absent = True
    db.session.commit()
    state = {"completed": "held", "missed": "missed", "cancelled": "none"}
    by_date = {
        ann_today - timedelta(days=days_ago): state[status]
        for days_ago, status in history.items()
    }

    def strip(email):
        raw = browser_for(email).client.get("/").get_data(as_text=True)
        days = re.findall(r'<li class="day day-([\w-]+)"', raw)
        streak = re.search(r'<strong id="streak">(\d+)</strong>', raw)[1]
        rate = words(re.search(r'<strong id="attendance">(.*?)</strong>', raw, re.S)[1])
        return days, int(streak), rate

    days, streak, rate = strip("ann@example.com")
    assert days == ["held", "missed-by-you", "held", "held", "none", "held", "none"]
    assert streak == 3  # back from yesterday, past the cancelled one, to the miss
    assert rate == "80% (4 of 5)"

    # Ben was there for the missed one; his strip ends on his own (London) today.
    ben_today = utcnow().astimezone(LONDON).date()
    days, streak, rate = strip("ben@example.com")
    assert days == [
        by_date.get(ben_today - timedelta(days=n), "none") for n in range(6, -1, -1)
    ]
    assert "missed" in days and "missed-by-you" not in days
    assert streak == 3
    assert rate == "100% (5 of 5)"


# --- /account/notifications ---------------------------------------------------


def stored_settings(user_id: int) -> tuple[int, bool]:
    db.session.expire_all()
    user = db.session.get(User, user_id)
    return user.reminder_minutes, user.email_notifications


def test_notification_settings_offer_reminder_choices(pair, browser_for):
    ann, _, _ = pair
    ann_browser = browser_for("ann@example.com")
    raw = ann_browser.client.get("/account").get_data(as_text=True)
    select_html = re.search(
        r'<select[^>]*name="reminder_minutes".*?</select>', raw, re.S
    )[0]
    values = re.findall(r'<option[^>]*value="(\d+)"', select_html)
    assert values == ["0", "5", "10", "15", "30", "60", "120"]
    assert re.search(
        r'<option selected value="10"|<option value="10" selected', select_html
    )
    assert stored_settings(ann.id) == (10, True)

    saved = ann_browser.post("/account/notifications", {"reminder_minutes": "30"})
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith("/account#notifications")
    assert stored_settings(ann.id) == (30, False)  # the unticked box turns e-mail off
    shown = ann_browser.client.get("/account")
    assert "Notification settings saved." in flashes(shown)

    ann_browser.post(
        "/account/notifications",
        {"reminder_minutes": "0", "email_notifications": "y"},
    )
    assert stored_settings(ann.id) == (0, True)


def test_an_invalid_reminder_choice_is_refused(pair, browser_for):
    ann, _, _ = pair
    ann_browser = browser_for("ann@example.com")
    ann_browser.post("/account/notifications", {"reminder_minutes": "60"})
    assert stored_settings(ann.id) == (60, False)

    for value in ("7", "-10", "abc", "", "99999"):
        refused = ann_browser.post(
            "/account/notifications",
            {"reminder_minutes": value, "email_notifications": "y"},
        )
        assert refused.status_code == 400, value
        assert "Remind me" in " ".join(flashes(refused)), value
        assert stored_settings(ann.id) == (60, False), value

    no_csrf = ann_browser.client.post(
        "/account/notifications",
        data={"reminder_minutes": "5", "email_notifications": "y"},
    )
    assert no_csrf.status_code == 400
    assert stored_settings(ann.id) == (60, False)
    assert db.session.get(Partnership, 1) is not None
