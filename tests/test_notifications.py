"""Notifications: storing once, who is told what, the page, the badge, live pushes."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ally.extensions import db, socketio
from ally.models import Notification, utcnow
from ally.services import accounts, notifications, partners, partnerships, tokens
from ally.services.errors import NotFound
from tests.conftest import Browser

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")

T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def browser_for(app):
    """A logged-in browser of its own for a user."""

    def login(user) -> Browser:
        browser = Browser(app.test_client())
        assert browser.login(user.email).status_code == 302
        return browser

    return login


@pytest.fixture
def ana(make_user):
    return make_user("ana@example.com", display_name="Ana")


@pytest.fixture
def ben(make_user):
    return make_user("ben@example.com", display_name="Ben")


def rows(user=None, kind=None) -> list[Notification]:
    db.session.expire_all()
    query = select(Notification).order_by(Notification.id)
    if user is not None:
        query = query.where(Notification.user_id == user.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query))


def total() -> int:
    return db.session.scalar(select(func.count()).select_from(Notification))


# --- the service -------------------------------------------------------------


def test_notify_stores_one_row_per_dedupe_key(ana):
    first = notifications.notify(
        ana.id,
        "reminder",
        "Your hour starts soon.",
        "/sessions/1",
        dedupe_key="r:1",
        now=T,
    )
    assert first is not None
    assert (first.user_id, first.kind, first.text, first.url) == (
        ana.id,
        "reminder",
        "Your hour starts soon.",
        "/sessions/1",
    )
    assert (first.created_at, first.read_at, first.email_state) == (T, None, "none")
    again = notifications.notify(
        ana.id, "reminder", "Different text", "/x", dedupe_key="r:1", now=T
    )
    assert again is None
    assert [n.text for n in rows(ana)] == ["Your hour starts soon."]
    # Without a key every call is a new notification.
    notifications.notify(ana.id, "note", "one")
    notifications.notify(ana.id, "note", "one")
    assert len(rows(ana, "note")) == 2


def test_notify_bounds_the_text_and_ignores_unknown_users(ana):
    long = notifications.notify(ana.id, "note", "x" * 600)
    assert long.text == "x" * 500
    assert notifications.notify(999_999, "note", "nobody") is None
    assert total() == 1


def test_notify_keeps_the_callers_work_when_the_key_is_taken(ana):
    """A duplicate (a second job run) rolls back only the notification itself."""
    notifications.notify(ana.id, "note", "first", dedupe_key="k")
    accounts.get_user(ana.id).display_name = "Ana Changed"  # caller's pending work
    assert notifications.notify(ana.id, "note", "second", dedupe_key="k") is None
    db.session.expire_all()
    assert accounts.get_user(ana.id).display_name == "Ana Changed"


def test_notify_many_skips_duplicates_and_queues_email_for_who_wants_it(app, ana, ben):
    app.config["ALLY_SMTP_HOST"] = "127.0.0.1"  # e-mail on (nothing is sent here)
    accounts.update_notification_settings(ben.id, 10, False)
    notifications.notify(ana.id, "open", "old", dedupe_key="open:1:a", now=T)

    def item(user, key):
        return {
            "user_id": user.id,
            "kind": "session_open",
            "text": f"room {key}",
            "url": "/sessions/1",
            "dedupe_key": key,
        }

    created = notifications.notify_many(
        [item(ana, "open:1:a"), item(ana, "open:2:a"), item(ben, "open:2:b")], T
    )
    assert created == 2
    assert notifications.notify_many([item(ben, "open:2:b")], T) == 0
    assert notifications.notify_many([], T) == 0
    assert [(n.user_id, n.text, n.email_state) for n in rows()] == [
        (ana.id, "old", "pending"),
        (ana.id, "room open:2:a", "pending"),
        (ben.id, "room open:2:b", "none"),
    ]


def test_unread_count_mark_read_and_open(ana, ben):
    for i in range(3):
        notifications.notify(ana.id, "note", f"for ana {i}", "/partners", now=T)
    theirs = notifications.notify(ben.id, "note", "for ben", "/requests", now=T)
    assert (notifications.unread_count(ana.id), notifications.unread_count(ben.id)) == (
        3,
        1,
    )
    first = rows(ana)[0]
    opened = notifications.open_notification(ana.id, first.id)
    assert opened.id == first.id and opened.read_at is not None
    read_at = opened.read_at
    assert notifications.open_notification(ana.id, first.id).read_at == read_at
    assert notifications.unread_count(ana.id) == 2
    assert [
        n.text for n in notifications.list_notifications(ana.id, unread_only=True)
    ] == [
        "for ana 2",
        "for ana 1",
    ]
    with pytest.raises(NotFound):
        notifications.open_notification(ana.id, theirs.id)
    with pytest.raises(NotFound):
        notifications.open_notification(ana.id, 999_999)
    assert rows(ben)[0].read_at is None  # not marked by a refused open

    assert notifications.mark_read(ana.id) == 2
    assert notifications.mark_read(ana.id) == 0
    assert notifications.unread_count(ana.id) == 0
    assert notifications.unread_count(ben.id) == 1


def test_list_is_newest_first_and_limited(ana):
    for i in range(5):
        notifications.notify(ana.id, "note", f"n{i}", now=T + timedelta(minutes=i))
    assert [n.text for n in notifications.list_notifications(ana.id, limit=3)] == [
        "n4",
        "n3",
        "n2",
    ]


# --- who is told what --------------------------------------------------------


def test_a_partner_request_and_its_acceptance_notify_the_other_person(ana, ben):
    request = partners.send_request(ana.id, ben.id, "Study renal?", T)
    assert rows(ana) == []
    [received] = rows(ben)
    assert (received.kind, received.url) == ("request_received", "/requests")
    assert received.text == "Ana asked you to be study partners."

    partnership = partners.accept_request(ben.id, request.id, T)
    assert [n.kind for n in rows(ben)] == ["request_received"]
    [accepted] = rows(ana)
    assert (accepted.kind, accepted.url) == (
        "request_accepted",
        f"/partnerships/{partnership.id}",
    )
    assert "Ben accepted your request" in accepted.text


def test_a_schedule_proposal_tells_the_partner_and_agreement_tells_both(
    ana, ben, make_partnership
):
    partnership = make_partnership(ana, ben)
    before = {u.id: len(rows(u)) for u in (ana, ben)}
    change = {"daily_time": "19:30", "turns": 2}
    _, pending = partnerships.update_partnership(ana.id, partnership.id, change)
    assert pending is True
    assert len(rows(ana)) == before[ana.id]
    [proposed] = rows(ben, "schedule_proposed")
    assert proposed.url == f"/partnerships/{partnership.id}"
    assert proposed.text.startswith("Ana proposed a new schedule: 19:30 ")
    assert "2 turns" in proposed.text

    _, pending = partnerships.update_partnership(ben.id, partnership.id, change)
    assert pending is False
    for user in (ana, ben):
        [changed] = rows(user, "schedule_changed")
        assert changed.text.startswith("New schedule in effect: 19:30 ")
    assert rows(ana, "schedule_proposed") == []


# --- the page and the badge --------------------------------------------------


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def badge(response) -> tuple[str, bool]:
    """(number shown, hidden?) of the navigation's unread badge."""
    match = re.search(
        r'<span class="badge" id="unread-count"( hidden)?>(\d+)</span>',
        text_of(response),
    )
    assert match, "no unread badge in the page"
    return match[2], bool(match[1])


def test_the_page_lists_notifications_and_the_badge_counts_unread(
    ana, ben, browser_for
):
    notifications.notify(ana.id, "note", "Older one", "/partners", now=T)
    notifications.notify(
        ana.id, "note", "Newer one", "/requests", now=T + timedelta(hours=1)
    )
    notifications.notify(ben.id, "note", "Ben's secret", "/requests", now=T)
    browser = browser_for(ana)

    page = browser.client.get("/notifications")
    assert page.status_code == 200
    body = text_of(page)
    assert body.index("Newer one") < body.index("Older one")
    assert "Ben's secret" not in body
    assert body.count('class="notification unread"') == 2
    assert badge(page) == ("2", False)

    done = browser.post("/notifications/read", csrf_page="/notifications")
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/notifications")
    assert notifications.unread_count(ana.id) == 0
    assert notifications.unread_count(ben.id) == 1
    page = browser.client.get("/notifications")
    assert badge(page) == ("0", True)
    assert 'class="notification unread"' not in text_of(page)


def test_opening_one_marks_it_read_and_goes_to_its_url(ana, ben, browser_for):
    mine = notifications.notify(ana.id, "request_received", "Ben asked", "/requests")
    other = notifications.notify(ana.id, "note", "Another", "/partners")
    theirs = notifications.notify(ben.id, "note", "Not yours", "/partners")
    browser = browser_for(ana)
    assert badge(browser.client.get("/"))[0] == "2"

    opened = browser.post(f"/notifications/{mine.id}/open", csrf_page="/notifications")
    assert opened.status_code == 302
    assert opened.headers["Location"] == "/requests"
    db.session.expire_all()
    assert db.session.get(Notification, mine.id).read_at is not None
    assert db.session.get(Notification, other.id).read_at is None
    assert badge(browser.client.get("/notifications")) == ("1", False)

    refused = browser.post(
        f"/notifications/{theirs.id}/open", csrf_page="/notifications"
    )
    assert refused.status_code == 404
    assert browser.post("/notifications/999999/open").status_code == 404
    db.session.expire_all()
    assert db.session.get(Notification, theirs.id).read_at is None


def test_the_pages_need_a_login(client, ana):
    note = notifications.notify(ana.id, "note", "hidden", "/partners")
    assert client.get("/notifications").status_code == 302
    assert "/login" in client.get("/notifications").headers["Location"]
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is None


# --- live pushes -------------------------------------------------------------


@pytest.fixture
def sockets(app):
    """Open Socket.IO test clients, each connected in its own app context."""
    opened = []

    def connect(**kwargs):
        with app.app_context():
            sock = socketio.test_client(app, **kwargs)
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        if sock.is_connected():
            with app.app_context():
                sock.disconnect()


def pushed(sock) -> list[dict]:
    return [
        event["args"][0]
        for event in sock.get_received()
        if event["name"] == "notification"
    ]


def test_a_notification_reaches_the_users_own_socket(
    app, ana, ben, browser_for, sockets
):
    browser = browser_for(ana)
    mine = sockets(flask_test_client=browser.client)
    assert mine.is_connected()
    theirs = sockets(flask_test_client=browser_for(ben).client)
    mine.get_received(), theirs.get_received()  # drop anything sent on connect

    stored = notifications.notify(ana.id, "reminder", "Hour at 18:00", "/sessions/7")
    [payload] = pushed(mine)
    assert {k: payload[k] for k in ("kind", "text", "url")} == {
        "kind": "reminder",
        "text": "Hour at 18:00",
        "url": "/sessions/7",
    }
    assert payload["id"] == stored.id
    assert pushed(theirs) == []

    # A request from Ben pushes to Ana too (through the partner service).
    partners.send_request(ben.id, ana.id, "", utcnow())
    [request] = pushed(mine)
    assert (request["kind"], request["url"]) == ("request_received", "/requests")


def test_a_duplicate_is_not_pushed_again(ana, browser_for, sockets):
    mine = sockets(flask_test_client=browser_for(ana).client)
    mine.get_received()
    notifications.notify(ana.id, "note", "once", dedupe_key="once")
    notifications.notify(ana.id, "note", "once", dedupe_key="once")
    assert [p["text"] for p in pushed(mine)] == ["once"]


def test_an_anonymous_socket_is_refused(app, ana, sockets):
    anonymous = sockets(flask_test_client=app.test_client())
    assert not anonymous.is_connected()
    bad_token = sockets(auth={"token": "ally_not-a-real-token"})
    assert not bad_token.is_connected()


def test_a_socket_with_an_api_token_is_accepted(ana, sockets):
    _, raw = tokens.create_token(ana.id, "phone")
    sock = sockets(auth={"token": raw})
    assert sock.is_connected()
    sock.get_received()
    notifications.notify(ana.id, "note", "to the phone", "/partners")
    assert [(p["kind"], p["text"]) for p in pushed(sock)] == [("note", "to the phone")]
