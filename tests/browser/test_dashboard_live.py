"""The dashboard's countdown ticks, and a notification arrives live.

Alex (New York) and Blake (London) are set up and paired through the JSON API,
then each logs in through the form in a browser context in their own zone.
Blake's only window is the hour starting about 25 minutes from now, and
Alex's window covers it, so the daily time the pair gets on acceptance is that
start: the next session is less than an hour away and the dashboard counts
down in minutes and seconds.

While Alex's dashboard stays open, Blake proposes a new time through the
partnership page; Alex's page shows the notification as a toast and its unread
badge goes up without a reload. Alex then opens it from /notifications, which
marks it read. Finally Blake, on a phone, gets the "new schedule" toast live
when Alex agrees through the API.

The last test checks that a notification arriving while /notifications is open
can be opened from the list like the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

PASSWORD = "teach-it-simply-42"
PHONE = {"width": 390, "height": 844}
NEW_YORK = "America/New_York"
LONDON = "Europe/London"
SESSION_MINUTES = 60  # ALLY_SESSION_MINUTES, the server's default
WHEN_FORMAT = "%A %d %B, %H:%M"  # the dashboard's "next session" line


class Api:
    """The JSON API as one user (or anonymous), failing loudly on any error."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.http.request(
            method, f"{self.base}/api/v1{path}", json=body, timeout=10
        )
        assert response.status_code == status, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None


def make_student(base: str, email: str, name: str, zone: str, window: dict) -> Api:
    """Register, get a token, fill the profile; return the user's API client."""
    anonymous = Api(base)
    anonymous.call(
        "POST",
        "/auth/register",
        {"email": email, "password": PASSWORD, "display_name": name, "timezone": zone},
        status=201,
    )
    token = anonymous.call(
        "POST",
        "/auth/token",
        {"email": email, "password": PASSWORD, "name": "browser test"},
        status=201,
    )["token"]
    user = Api(base, token)
    user.call(
        "PATCH",
        "/me",
        {
            "exam": "USMLE Step 1",
            "subjects": ["Renal", "Cardio"],
            "looking_for_partner": True,
            "availability": [window],
        },
    )
    return user


def pair_up(
    base: str, alex_window: dict, blake_window: dict
) -> tuple[Api, Api, int, int]:
    """Alex (New York) asks Blake (London), who accepts; nothing left unread.

    Returns (Alex's client, Blake's client, Blake's id, the partnership id).
    """
    alex_api = make_student(base, "alex@example.org", "Alex", NEW_YORK, alex_window)
    blake_api = make_student(base, "blake@example.org", "Blake", LONDON, blake_window)
    blake_id = blake_api.call("GET", "/me")["id"]
    asked = alex_api.call(
        "POST",
        "/partner-requests",
        {"to_user_id": blake_id, "message": "Teach back daily?"},
        status=201,
    )
    accepted = blake_api.call("POST", f"/partner-requests/{asked['id']}/accept")
    # Start from no unread notifications (the request and its answer).
    for api in (alex_api, blake_api):
        api.call("POST", "/notifications/read")
    return alex_api, blake_api, blake_id, accepted["partnership"]["id"]


def hhmm(minute: int) -> str:
    return f"{minute // 60 % 24:02d}:{minute % 60:02d}"


def seconds_left(text: str) -> int:
    """ "24:07" (the countdown under an hour) in seconds."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    assert match, f"countdown {text!r} is not M:SS"
    return int(match[1]) * 60 + int(match[2])


# Installed in every document of a watched page, before the page's own scripts:
# the Socket.IO frames that *this* document's sockets received. A document's
# window dies with it, so frames of an earlier page can never be counted for
# the next one, however late the browser reports them.
SOCKET_PROBE = """
if (!window.__socketFrames) {
  window.__socketFrames = [];
  window.WebSocket = new Proxy(window.WebSocket, {
    construct(target, args, newTarget) {
      const socket = Reflect.construct(target, args, newTarget);
      socket.addEventListener("message", (event) => {
        if (typeof event.data === "string") window.__socketFrames.push(event.data);
      });
      return socket;
    },
  });
}
"""
# The Socket.IO connect acknowledgement ("40{...}") on this document's socket.
CONNECTED = "() => (window.__socketFrames || []).some((f) => f.startsWith('40'))"


@dataclass
class Watch:
    """Console errors, page errors, HTTP errors and failed requests of a page."""

    problems: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.add_init_script(SOCKET_PROBE)
        page.on(
            "console",
            lambda msg: (
                self.problems.append(f"console {msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status} {r.url}")
                if r.status >= 400
                else None
            ),
        )
        # ERR_ABORTED is the browser dropping a request of the page it leaves.
        page.on(
            "requestfailed",
            lambda r: (
                self.problems.append(f"failed: {r.url} ({r.failure})")
                if "ERR_ABORTED" not in (r.failure or "")
                else None
            ),
        )
        page.on(
            "framenavigated",
            lambda frame: (
                self.navigations.append(frame.url) if frame == page.main_frame else None
            ),
        )

    def open_live(self, page: Page, url: str, timeout_ms: int = 10_000) -> None:
        """Load ``url`` and wait for its Socket.IO connect acknowledgement.

        The server joins the user's room before it acknowledges ("40{...}"),
        so anything emitted to the user after this reaches the page. Only the
        loaded document's own sockets count: the previous page's socket may
        still be connecting when ``goto`` starts, and its acknowledgement,
        reported during the navigation, says nothing about the new page.
        """
        page.goto(url)
        try:
            page.wait_for_function(CONNECTED, timeout=timeout_ms)
        except PlaywrightTimeoutError:
            frames = page.evaluate("window.__socketFrames || []")
            message = f"no Socket.IO connection on {url}: {frames}"
            raise AssertionError(message) from None


def new_person(new_context, zone: str, **kwargs: Any) -> tuple[Page, Watch]:
    """A page in a fresh browser context in ``zone``, watched for problems."""
    context = new_context(timezone_id=zone, locale="en-US", **kwargs)
    context.set_default_timeout(10_000)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    return page, watch


def log_in(page: Page, base: str, email: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Hi, {name}")).to_be_visible()


def shoot(page: Page, artifacts_dir: Path, name: str) -> None:
    """Save a full-page screenshot of the current page."""
    page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow}px too wide"


def test_countdown_ticks_and_notifications_arrive_live(
    new_context, live_server, artifacts_dir: Path
) -> None:
    base = live_server.url
    london, new_york = ZoneInfo(LONDON), ZoneInfo(NEW_YORK)

    # The session start: 25-29 minutes after this minute, on a 5-minute
    # step (the daily time is searched in 5-minute steps).
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now + timedelta(minutes=25)
    start += timedelta(minutes=-start.minute % 5)
    start_london = start.astimezone(london)
    blake_window = {
        "start": start_london.strftime("%H:%M"),
        "end": (start_london + timedelta(minutes=SESSION_MINUTES)).strftime("%H:%M"),
        "weekdays": None,
    }
    # Wide enough in New York to cover that hour whether the zones are 4 or 5
    # hours apart on the coming days (it may cross midnight).
    alex_window = {
        "start": (start - timedelta(hours=2)).astimezone(new_york).strftime("%H:%M"),
        "end": (start + timedelta(hours=3)).astimezone(new_york).strftime("%H:%M"),
        "weekdays": None,
    }
    alex_api, blake_api, blake_id, partnership_id = pair_up(
        base, alex_window, blake_window
    )
    partnership = alex_api.call("GET", f"/partnerships/{partnership_id}")
    assert (partnership["daily_time"], partnership["timezone"]) == (
        start_london.strftime("%H:%M"),
        LONDON,
    ), "the test's windows did not give the intended daily time"

    sessions = alex_api.call("GET", "/sessions")["items"]
    upcoming = [s for s in sessions if s["status"] == "scheduled"]
    assert upcoming, sessions
    starts_at = datetime.fromisoformat(upcoming[0]["starts_at"])
    assert starts_at == start, upcoming[0]

    alex, alex_watch = new_person(new_context, NEW_YORK)
    blake, blake_watch = new_person(new_context, LONDON)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")

    # 1. Each dashboard shows the next session in the viewer's own zone, and
    # the partner's wall time beside it.
    blake.goto(f"{base}/")
    blake_card = blake.locator("#next-session")
    expect(blake_card.locator(".when strong")).to_have_text(
        starts_at.astimezone(london).strftime(WHEN_FORMAT)
    )
    expect(blake_card.locator(".when .muted")).to_have_text(
        f"({starts_at.astimezone(new_york):%H:%M} for Alex)"
    )
    expect(blake_card.locator(".countdown-line")).to_contain_text("Starts in")
    shoot(blake, artifacts_dir, "01-blake-dashboard")

    alex_watch.open_live(alex, f"{base}/")
    dashboard_url = alex.url
    card = alex.locator("#next-session")
    expect(card.locator(".when strong")).to_have_text(
        starts_at.astimezone(new_york).strftime(WHEN_FORMAT)
    )
    expect(card.locator(".when .muted")).to_have_text(
        f"({starts_at.astimezone(london):%H:%M} for Blake)"
    )
    expect(card.locator(".countdown-line")).to_contain_text("Starts in")
    badge = alex.locator("#unread-count")
    expect(badge).to_be_hidden()

    # 2. The countdown runs: minutes and seconds to the start, going down.
    countdown = card.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"^\d{1,2}:\d{2}$"))
    first = seconds_left(countdown.inner_text())
    expected = (starts_at - datetime.now(UTC)).total_seconds()
    assert expected - 120 < first < expected + 120, (first, expected)
    shoot(alex, artifacts_dir, "02-alex-dashboard-countdown")
    alex.wait_for_timeout(2_500)
    second = seconds_left(countdown.inner_text())
    assert second < first, f"the countdown did not move: {first} s then {second} s"
    shoot(alex, artifacts_dir, "03-alex-dashboard-countdown-later")

    # 3. Blake proposes another time on the partnership page; Alex's open
    # dashboard shows it live.
    alex.evaluate("window.__marker = 1")
    alex_watch.navigations.clear()
    proposed_time = hhmm(start_london.hour * 60 + start_london.minute + 120)
    blake.locator("#partnership-card").get_by_role(
        "button", name="Schedule and settings"
    ).click()
    expect(blake).to_have_url(f"{base}/partnerships/{partnership_id}")
    blake.get_by_text("Change the schedule").click()
    blake.get_by_label("Daily start").fill(proposed_time)
    shoot(blake, artifacts_dir, "04-blake-proposes")
    blake.get_by_role("button", name="Propose").click()
    expect(blake.get_by_text("Proposed: your partner must agree.")).to_be_visible()
    proposal = alex_api.call("GET", f"/partnerships/{partnership_id}")
    assert proposal["proposal"] == {"daily_time": proposed_time}, proposal
    assert proposal["proposed_by_id"] == blake_id

    text = (
        f"Blake proposed a new schedule: {proposed_time} {LONDON}, "
        f"{SESSION_MINUTES} min, 4 turns, every day. "
        "Agree to it on the partnership page."
    )
    toast = alex.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    expect(toast).to_have_text(text)
    expect(toast.get_by_role("link")).to_have_attribute(
        "href", f"/partnerships/{partnership_id}"
    )
    expect(badge).to_be_visible()
    expect(badge).to_have_text("1")
    assert alex.url == dashboard_url
    assert alex.evaluate("window.__marker") == 1, "the dashboard was reloaded"
    assert alex_watch.navigations == [], alex_watch.navigations
    # Still the same page, still counting.
    expect(countdown).not_to_have_text(countdown.inner_text())
    shoot(alex, artifacts_dir, "05-alex-dashboard-toast")
    assert alex_api.call("GET", "/notifications?unread=true")["unread"] == 1
    # The proposer is not notified of their own proposal.
    expect(blake.locator("#unread-count")).to_be_hidden()

    # 4. /notifications lists it unread; opening it marks it read and goes to
    # the partnership, where the proposal waits for Alex.
    alex.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile(r"^Notifications")
    ).click()
    expect(alex).to_have_url(f"{base}/notifications")
    items = alex.locator("#notification-list li.notification")
    item = items.filter(has_text="Blake proposed a new schedule")
    expect(item).to_have_count(1)
    expect(item).to_have_class(re.compile(r"\bunread\b"))
    expect(item.get_by_role("button")).to_have_text(f"Unread: {text}")
    shoot(alex, artifacts_dir, "06-alex-notifications")
    item.get_by_role("button").click()
    expect(alex).to_have_url(f"{base}/partnerships/{partnership_id}")
    # Alex reads it in New York time first, then as fixed in London.
    expect(alex.locator("#proposal")).to_contain_text(
        re.compile(rf"Blake proposed: \d\d:\d\d your time \({proposed_time} {LONDON}\)")
    )
    expect(alex.locator("#unread-count")).to_be_hidden()
    shoot(alex, artifacts_dir, "07-alex-partnership-after-opening")
    listed = alex_api.call("GET", "/notifications")
    assert listed["unread"] == 0
    opened = [n for n in listed["items"] if n["kind"] == "schedule_proposed"]
    assert [n["text"] for n in opened] == [text]
    assert opened[0]["read_at"] is not None
    alex.goto(f"{base}/notifications")
    expect(alex.locator("#notification-list li.notification.unread")).to_have_count(0)
    expect(alex.locator("#unread-count")).to_be_hidden()

    # 5. On phones: Alex's dashboard, and Blake's dashboard receiving the
    # "new schedule" toast live when Alex agrees (through the API).
    alex.set_viewport_size(PHONE)
    alex.goto(f"{base}/")
    expect(alex.locator("#next-session .countdown")).to_have_text(
        re.compile(r"^\d{1,2}:\d{2}$")
    )
    no_sideways_scroll(alex)
    shoot(alex, artifacts_dir, "08-phone-alex-dashboard")

    blake.set_viewport_size(PHONE)
    blake_watch.open_live(blake, f"{base}/")
    blake.evaluate("window.__marker = 1")
    blake_watch.navigations.clear()
    agreed = alex_api.call(
        "PATCH", f"/partnerships/{partnership_id}", {"daily_time": proposed_time}
    )
    assert (agreed["daily_time"], agreed["proposal"]) == (proposed_time, None)
    blake_toast = blake.locator("#toasts .toast")
    expect(blake_toast).to_have_text(
        f"New schedule in effect: {proposed_time} {LONDON}, {SESSION_MINUTES} min,"
        " 4 turns, every day."
    )
    expect(blake.locator("#unread-count")).to_have_text("1")
    assert blake.evaluate("window.__marker") == 1, "the dashboard was reloaded"
    assert blake_watch.navigations == [], blake_watch.navigations
    no_sideways_scroll(blake)
    shoot(blake, artifacts_dir, "09-phone-blake-dashboard-toast")

    assert alex_watch.problems == [], alex_watch.problems
    assert blake_watch.problems == [], blake_watch.problems


def test_a_notification_arriving_on_the_notifications_page_can_be_opened(
    new_context, live_server, artifacts_dir: Path
) -> None:
    base = live_server.url
    evenings = {"start": "18:00", "end": "21:00", "weekdays": None}
    alex_api, blake_api, _, partnership_id = pair_up(base, evenings, evenings)
    alex, alex_watch = new_person(new_context, NEW_YORK)
    log_in(alex, base, "alex@example.org", "Alex")
    alex_watch.open_live(alex, f"{base}/notifications")
    alex.evaluate("window.__marker = 1")

    blake_api.call(
        "PATCH", f"/partnerships/{partnership_id}", {"daily_time": "07:00"}, status=202
    )
    newest = alex.locator("#notification-list li.notification").first
    expect(newest).to_contain_text("Blake proposed a new schedule: 07:00")
    expect(alex.locator("#unread-count")).to_have_text("1")
    assert alex.evaluate("window.__marker") == 1, "the page was reloaded"
    shoot(alex, artifacts_dir, "01-alex-notifications-live-item")
    assert alex_watch.problems == [], alex_watch.problems

    # Like the items rendered by the server: a button that opens it.
    opener = newest.get_by_role("button", name=re.compile("Blake proposed"))
    assert opener.count() == 1, newest.inner_html()
    opener.click()
    expect(alex).to_have_url(f"{base}/partnerships/{partnership_id}")
    expect(alex.locator("#unread-count")).to_be_hidden()
    assert alex_api.call("GET", "/notifications")["unread"] == 0
