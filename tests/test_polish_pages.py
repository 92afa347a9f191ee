"""The small things a new user notices, through the pages (Flask test client).

Sign-up shows every mistake at once beside its field; a schedule proposal
reads in the reader's own zone; an empty topic's error sits beside the topic
form; the topic picker's first option; no "Add to calendar" on a missed
session; the dashboard and the review count held and missed sessions by the
same rule (the demo's history: 19 held, 2 missed, one of them while Ana was
there).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ally.extensions import db
from ally.models import SessionParticipant, utcnow
from ally.services import partnerships, schedule
from ally.services.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")


def text(response) -> str:
    return response.get_data(as_text=True)


def words(html: str) -> str:
    """Tags dropped, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_sign_up_shows_every_mistake_at_once_beside_its_field(browser_client) -> None:
    page = browser_client.client.get("/register")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(page))[1]
    response = browser_client.client.post(
        "/register",
        data={
            "csrf_token": token,
            "email": "not-an-address",
            "display_name": "Ann",
            "timezone": "Mars/Olympus",
            "password": "password",
            "confirm": "something else",
        },
    )
    assert response.status_code == 400
    html = text(response)
    # Each message follows its own field, described by it.
    for field in ("email", "timezone", "password", "confirm"):
        match = re.search(
            rf'<input[^>]*id="{field}"[^>]*>\s*'
            rf'<small id="{field}-help" class="error">([^<]+)</small>',
            html,
        )
        assert match, f"no error beside {field}"
        assert (
            f'aria-describedby="{field}-help"'
            in re.search(rf'<input[^>]*id="{field}"[^>]*>', html)[0]
        )
    assert "4 things to fix" in words(html)
    assert 'id="display_name-help" class="error"' not in html


def test_a_schedule_proposal_reads_in_the_readers_zone(
    app, make_user, make_partnership, browser_client
) -> None:
    london = make_user("ann@example.com", display_name="Ann", timezone="Europe/London")
    new_york = make_user(
        "bob@example.com", display_name="Bob", timezone="America/New_York"
    )
    partnership = make_partnership(london, new_york)
    _, pending = partnerships.update_partnership(
        new_york.id,
        partnership.id,
        {"daily_time": "15:00", "timezone": "America/New_York"},
    )
    assert pending
    browser_client.login("ann@example.com")
    html = text(browser_client.client.get(f"/partnerships/{partnership.id}"))
    proposal = words(
        re.search(
            r'<div class="flash flash-info" id="proposal">(.*?)</div>', html, re.S
        )[1]
    )
    # 15:00 in New York is 20:00 in London (both on standard time or both on
    # summer time, except for a few weeks a year when it is 19:00).
    assert re.search(
        r"Bob proposed: (20|19):00 your time \(15:00 America/New_York\)", proposal
    ), proposal


def test_an_empty_topic_is_refused_beside_the_topic_form(
    app, make_user, browser_client
) -> None:
    make_user("ann@example.com")
    browser_client.login("ann@example.com")
    response = browser_client.post(
        "/topics", {"title": "", "subject": ""}, csrf_page="/profile"
    )
    assert response.status_code == 302
    html = text(browser_client.client.get("/profile"))
    top = html[html.index("<main") : html.index("<h1>")]
    assert "flash-error" not in top, "the error is at the top of the page"
    form = html[html.index('id="topics"') :]
    error = re.search(
        r'<div id="topic-error" role="alert"><p class="flash flash-error">([^<]+)</p>',
        form,
    )
    assert error and error[1].startswith("Topic:"), form[:2000]
    title = re.search(r'<input[^>]*id="title"[^>]*>', form)[0]
    assert 'aria-invalid="true"' in title and 'aria-describedby="topic-error"' in title
    # It sits right above the field it is about.
    assert form.index('id="topic-error"') < form.index('id="title"')


def test_a_missed_session_offers_no_calendar_entry(
    app, make_user, make_partnership, browser_client
) -> None:
    ann = make_user("ann@example.com")
    ben = make_user("ben@example.com")
    partnership = make_partnership(ann, ben)
    today = utcnow().date()
    # (Only the status matters to the page; the pair began today.)
    missed = schedule.ensure_session(ann.id, partnership.id, today + timedelta(days=3))
    missed.status = "missed"
    coming = schedule.ensure_session(ann.id, partnership.id, today + timedelta(days=2))
    db.session.commit()
    browser_client.login("ann@example.com")
    assert "Add to calendar" not in text(
        browser_client.client.get(f"/sessions/{missed.id}")
    )
    assert "Add to calendar" in text(
        browser_client.client.get(f"/sessions/{coming.id}")
    )


def test_dashboard_and_review_count_sessions_by_one_rule(app, browser_client) -> None:
    seed_demo(utcnow())
    # One of the demo's missed days: Ana came in, Ben did not.
    ana = DEMO_USERS[0]
    rows = db.session.scalars(
        db.select(SessionParticipant).where(SessionParticipant.absent.is_(True))
    ).all()
    assert rows, "the demo has absences"
    browser_client.login(ana.email, DEMO_PASSWORD)
    dashboard = text(browser_client.client.get("/"))
    held = int(re.search(r'<strong id="held">(\d+)</strong>', dashboard)[1])
    missed = int(re.search(r'<strong id="missed">(\d+)</strong>', dashboard)[1])
    attendance = words(
        re.search(r'<strong id="attendance">(.*?)</strong>', dashboard, re.S)[1]
    )
    review = text(browser_client.client.get("/review"))
    row = re.search(
        r'<td data-label="Partner">Ben \(demo\)</td><td data-label="Held">(\d+)</td>'
        r'<td data-label="Missed">(\d+)</td>',
        review,
    )
    assert row, "no row for Ben on the review"
    assert (held, missed) == (int(row[1]), int(row[2]))
    attended, due = map(int, re.search(r"\((\d+) of (\d+)\)", attendance).groups())
    assert due == held + missed
    there = attended - held
    assert 0 <= there <= missed
    if there:
        assert f"({there} while you were there)" in words(dashboard)


def test_the_topic_picker_starts_with_all_topics(
    app, make_user, browser_client
) -> None:
    seed_demo(utcnow())
    browser_client.login(DEMO_USERS[0].email, DEMO_PASSWORD)
    html = text(browser_client.client.get("/review"))
    first = re.search(
        r'<select id="topic-select" name="topic">\s*<option value="">([^<]+)</option>',
        html,
    )
    assert first and first[1] == "All topics"
    assert "All topics only" not in html
