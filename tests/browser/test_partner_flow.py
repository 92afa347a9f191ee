"""Two people in two browsers sign up, find each other, and become partners.

Alex studies in New York, Blake in London. Their daily windows are chosen so
that they share exactly 3 hours whether the two zones are 5 hours apart (most
of the year) or 4 (the weeks when the US and EU change clocks on different
dates): New York 13:00-17:00 and London 18:00-21:00 meet at London 18:00-21:00.
Blake accepts, so the daily time is fixed in London at 18:00, the earliest
start of the shared hours.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import BrowserContext, Page, expect

PASSWORD = "teach-it-simply-42"
PHONE = {"width": 390, "height": 844}


def shoot(page: Page, artifacts_dir: Path, name: str) -> None:
    """Save a full-page screenshot of the current page."""
    page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)


def register(page: Page, base: str, email: str, name: str, zone: str) -> None:
    """Sign up through /register, checking the zone was taken from the browser."""
    page.goto(f"{base}/register")
    timezone = page.get_by_label("Time zone")
    expect(timezone).to_have_value(zone)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(f"{base}/profile")
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()


def window_row(page: Page, number: int):
    """The availability row ``number`` (1-based) on the profile page."""
    return page.get_by_role("group", name=f"Window {number}", exact=True)


def fill_profile(
    page: Page,
    *,
    exam_date: date,
    subjects: str,
    start: str,
    end: str,
) -> None:
    """Fill exam, date, subjects and one every-day window; save."""
    page.get_by_label("Exam", exact=True).fill("USMLE Step 1")
    page.get_by_label("Exam date").fill(exam_date.isoformat())
    page.get_by_label("Subjects").fill(subjects)
    row = window_row(page, 1)
    row.get_by_label("From").fill(start)
    row.get_by_label("To").fill(end)
    looking = page.get_by_label("I am looking for a study partner")
    if not looking.is_checked():
        looking.check()
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    expect(window_row(page, 1).get_by_label("From")).to_have_value(start)
    expect(window_row(page, 1).get_by_label("To")).to_have_value(end)


def add_topic(page: Page, title: str, subject: str) -> None:
    """Add a topic to teach from the profile page."""
    topics = page.locator("#topics")
    topics.get_by_label("Topic", exact=True).fill(title)
    topics.get_by_label("Subject", exact=True).last.fill(subject)
    topics.get_by_role("button", name="Add topic").click()
    expect(page.get_by_text(f"Added “{title}”.")).to_be_visible()
    expect(page.locator("#topics table input[name=title]")).to_have_value(title)


def new_person(new_context, zone: str) -> tuple[BrowserContext, Page]:
    """A browser context in ``zone`` (so the page sees that zone) and its page."""
    context = new_context(timezone_id=zone, locale="en-US")
    context.set_default_timeout(10_000)
    return context, context.new_page()


def test_two_students_pair_up(new_context, live_server, artifacts_dir: Path) -> None:
    base = live_server.url
    today = datetime.now(UTC).date()
    _, alex = new_person(new_context, "America/New_York")
    _, blake = new_person(new_context, "Europe/London")

    # 1. Both sign up; the time zone field starts with each browser's zone.
    register(alex, base, "alex@example.org", "Alex", "America/New_York")
    shoot(alex, artifacts_dir, "01-alex-profile-empty")
    register(blake, base, "blake@example.org", "Blake", "Europe/London")

    # 2. Profiles: same exam, 12 days apart, two subjects in common.
    fill_profile(
        alex,
        exam_date=today + timedelta(days=60),
        subjects="Renal, Cardio, Biochemistry",
        start="13:00",
        end="17:00",
    )
    add_topic(alex, "Renin–angiotensin–aldosterone system", "Renal")
    shoot(alex, artifacts_dir, "02-alex-profile-filled")
    fill_profile(
        blake,
        exam_date=today + timedelta(days=72),
        subjects="cardio, renal, Pharmacology",
        start="18:00",
        end="21:00",
    )
    add_topic(blake, "Frank–Starling mechanism", "Cardio")
    shoot(blake, artifacts_dir, "03-blake-profile-filled")

    # 3. Alex finds Blake with the reasons in words.
    alex.goto(f"{base}/partners")
    card = alex.locator("article.suggestion").filter(has_text="Blake")
    expect(card).to_have_count(1)
    reasons = card.locator(".reasons li")
    expect(reasons.nth(0)).to_have_text("3 h in common each day")
    expect(reasons.nth(1)).to_have_text("same exam, 12 days apart")
    expect(reasons.nth(2)).to_have_text(
        re.compile(r"^both on (Cardio and Renal|Renal and Cardio)$", re.I)
    )
    shoot(alex, artifacts_dir, "04-alex-suggestions")

    # 4. Alex asks, with a message.
    message = "Hi Blake! Same exam and our evenings match — teach back daily?"
    card.get_by_text("Ask Blake to be partners").click()
    card.get_by_label("Message (optional)").fill(message)
    shoot(alex, artifacts_dir, "05-alex-request-form")
    card.get_by_role("button", name="Send request").click()
    expect(alex).to_have_url(f"{base}/requests")
    sent = alex.locator("section[aria-labelledby=outgoing-heading] article.request")
    expect(sent.first).to_contain_text("Blake")
    expect(sent.first).to_contain_text(message)

    # 5. Blake sees the badge and the request, and accepts.
    blake.goto(f"{base}/")
    nav = blake.get_by_role("navigation", name="Main")
    expect(nav.locator("#incoming-count")).to_have_text("1")
    # The request also arrived as a notification.
    expect(nav.locator("#unread-count")).to_have_text("1")
    shoot(blake, artifacts_dir, "06-blake-dashboard-pending")
    blake.get_by_role("link", name=re.compile(r"^Requests")).click()
    request_card = blake.locator("article.request").filter(has_text="Alex")
    expect(request_card).to_contain_text("wants to be your partner")
    expect(request_card.locator("blockquote")).to_have_text(message)
    shoot(blake, artifacts_dir, "07-blake-requests")
    request_card.get_by_role("button", name="Accept").click()
    expect(blake.get_by_text("Accepted: you have a study partner!")).to_be_visible()
    expect(blake.get_by_role("heading", name="Partnership with Alex")).to_be_visible()
    shoot(blake, artifacts_dir, "08-blake-partnership")
    expect(
        blake.get_by_role("navigation", name="Main").locator("#incoming-count")
    ).to_have_count(0)

    # 6. Both dashboards show the partnership, each in their own zone.
    london_start = datetime.combine(today, datetime.min.time().replace(hour=18))
    london_start = london_start.replace(tzinfo=ZoneInfo("Europe/London"))
    new_york = london_start.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M")

    blake.goto(f"{base}/")
    blake_card = blake.locator("#partnership-card")
    expect(blake_card).to_contain_text("You are partners with Alex")
    expect(blake_card).to_contain_text(
        "Daily teach-back hour at 18:00 your time (Europe/London)"
    )
    expect(blake_card).to_contain_text(f"{new_york} for Alex (America/New_York)")
    shoot(blake, artifacts_dir, "09-blake-dashboard-partners")

    alex.goto(f"{base}/")
    alex_card = alex.locator("#partnership-card")
    expect(alex_card).to_contain_text("You are partners with Blake")
    expect(alex_card).to_contain_text(
        f"Daily teach-back hour at {new_york} your time (America/New_York)"
    )
    expect(alex_card).to_contain_text("18:00 for Blake (Europe/London)")
    # Alex was told, and the first session is on the dashboard with a countdown.
    expect(alex.locator("#unread-count")).to_have_text("1")
    expect(alex.locator("#next-session")).to_contain_text(
        re.compile(r"(you teach|Blake teaches) first")
    )
    expect(alex.locator("#next-session .countdown")).not_to_be_empty()
    shoot(alex, artifacts_dir, "10-alex-dashboard-partners")

    # 7. The same pages on a phone.
    alex.set_viewport_size(PHONE)
    shoot(alex, artifacts_dir, "11-phone-alex-dashboard")
    alex.goto(f"{base}/profile")
    shoot(alex, artifacts_dir, "12-phone-alex-profile")
    alex.goto(f"{base}/partnerships/{_partnership_id(blake)}")
    shoot(alex, artifacts_dir, "13-phone-alex-partnership")
    alex.goto(f"{base}/requests")
    shoot(alex, artifacts_dir, "14-phone-alex-requests")


def _partnership_id(page: Page) -> str:
    """The partnership id from the dashboard's link on ``page``."""
    href = page.locator("#partnership-card a", has_text="Schedule").get_attribute(
        "href"
    )
    assert href is not None
    return href.rstrip("/").rsplit("/", 1)[-1]


def test_clashing_windows_show_a_message_and_save_nothing(
    new_context, live_server, artifacts_dir: Path
) -> None:
    base = live_server.url
    _, page = new_person(new_context, "Europe/London")
    register(page, base, "casey@example.org", "Casey", "Europe/London")

    # A valid window first, so "nothing saved" can be checked against it.
    row1 = window_row(page, 1)
    row1.get_by_label("From").fill("09:00")
    row1.get_by_label("To").fill("11:00")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()

    # Weekdays 10:00-12:00 and every day 11:00-13:00 overlap on Monday to Friday.
    page.get_by_label("Exam", exact=True).fill("USMLE Step 1")
    row1 = window_row(page, 1)
    row1.get_by_label("From").fill("10:00")
    row1.get_by_label("To").fill("12:00")
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri"):
        row1.get_by_label(day, exact=True).check()
    # Only one empty row shows; the others come with "Add another window".
    rows = page.locator("#availability .window-row")
    expect(rows).to_have_count(6)
    expect(rows.nth(1)).to_be_visible()
    expect(rows.nth(2)).to_be_hidden()
    page.get_by_role("button", name="Add another window").click()
    expect(rows.nth(2)).to_be_visible()
    expect(rows.nth(2).get_by_label("From")).to_be_focused()
    row2 = window_row(page, 2)
    row2.get_by_label("From").fill("11:00")
    row2.get_by_label("To").fill("13:00")
    shoot(page, artifacts_dir, "01-clashing-windows-filled")
    page.get_by_role("button", name="Save profile").click()

    expect(page.get_by_text(re.compile(r"overlap on Mon"))).to_be_visible()
    shoot(page, artifacts_dir, "02-clashing-windows-message")

    # Nothing was written: the stored profile still has the first window only.
    page.goto(f"{base}/profile")
    expect(page.get_by_label("Exam", exact=True)).to_have_value("")
    expect(window_row(page, 1).get_by_label("From")).to_have_value("09:00")
    expect(window_row(page, 1).get_by_label("To")).to_have_value("11:00")
    expect(window_row(page, 2).get_by_label("From")).to_have_value("")
