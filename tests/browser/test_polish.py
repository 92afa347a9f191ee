"""The room by keyboard alone, what a screen reader hears, live requests, busy
buttons, and axe on a live room (with screenshots at 390 and 1280 px).

Alex (New York) and Blake (London) are set up and paired through the JSON API
and log in through the form, each in a browser context of their own. Phases
are long (5 minutes of teaching, 3 of rating): every step is a key press or a
click and every check waits for a state, never for a time.

- A whole turn by keyboard only (Tab, Shift+Tab, Enter, Space, arrows and the
  room's shortcut keys) on both pages, the call's Join, Mute and Camera
  buttons included (Chromium's fake devices).
- The room's live region (``#room-announcer``): a signal reaching the teacher,
  a phase change and a rating are announced; a burst of three signals is one
  announcement. Every change of its text is recorded by a probe, so "one" is
  counted, not assumed.
- A partner request reaches the other's open dashboard: its requests section,
  the Requests menu item and the phone menu's count change without a reload,
  and a toast shows. The declined request then stacks on a phone in /requests.
- A form's button is busy (aria-busy, disabled) while its request runs (held
  by ``page.route``), and back to normal on the re-rendered page with errors.
- axe-core on the live room (teaching, listening, rating, reflecting) on a
  phone and a desktop: no serious or critical violation; screenshots of each
  state in /tmp/shots/ and the test's artifacts folder.
"""

# ruff: noqa: E501 (the browser-side probes are JavaScript in strings)
# ruff: noqa: F811 (the call tests' fixtures are imported and used by name)
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.browser.test_accessibility import AXE, blocking, run_axe
from tests.browser.test_call import (  # noqa: F401 - fixtures used by name
    media_browser,
    media_context,
)
from tests.browser.test_dashboard_live import (
    LONDON,
    NEW_YORK,
    PASSWORD,
    PHONE,
    log_in,
    make_student,
    new_person,
    no_sideways_scroll,
    pair_up,
)
from tests.browser.test_phone_layout import layout_problems
from tests.browser.test_phone_layout import shoot as shoot_both
from tests.support.room_page import EXPECT_TIMEOUT_MS, expect_only_visible

DESKTOP = {"width": 1280, "height": 900}
TEACH_SECONDS = 300
RATE_SECONDS = 180
TOPIC_1 = "Loop of Henle"
TOPIC_2 = "Frank–Starling mechanism"
SUMMARY = "The loop makes the deep kidney salty, so water can be pulled back later."
EVENINGS = {"start": "18:00", "end": "21:00", "weekdays": None}

# Every text the room's live region is given, in order, kept on the window
# (installed before the page's scripts; room.js sets the text once per
# announcement, so each change is one thing a screen reader says).
ANNOUNCER_PROBE = """
window.__announced = [];
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("room-announcer");
  if (!box) return;
  new MutationObserver(() => window.__announced.push(box.textContent)).observe(box, {
    childList: true, characterData: true, subtree: true,
  });
});
"""


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=None)  # back to Playwright's default


def announced(page: Page) -> list[str]:
    """What the room's live region has said on this page so far."""
    return page.evaluate("window.__announced")


def has_focus(locator: Locator) -> bool:
    return locator.evaluate("el => el === document.activeElement")


def tab_to(page: Page, target: Locator, *, back: bool = False, limit: int = 80) -> None:
    """Press Tab (Shift+Tab if ``back``) until ``target`` has the focus."""
    key = "Shift+Tab" if back else "Tab"
    seen = []
    for _ in range(limit):
        page.keyboard.press(key)
        if has_focus(target):
            return
        seen.append(
            page.evaluate(
                "() => { const e = document.activeElement;"
                " return `${e.tagName.toLowerCase()}#${e.id} ${(e.textContent || '').trim().slice(0, 30)}`; }"
            )
        )
    raise AssertionError(f"{key} never reached {target}; focus went: {seen}")


def choose_by_arrows(page: Page, form: Locator, name: str, value: int) -> None:
    """Tab into a radio group (its first option) and arrow down to ``value``."""
    first = form.locator(f"input[name={name}]").first
    tab_to(page, first)
    for _ in range(value - 1):
        page.keyboard.press("ArrowDown")
    expect(form.locator(f"input[name={name}][value='{value}']")).to_be_checked()


def session_for_two(base: str, **windows: Any) -> tuple[Any, str]:
    """Alex and Blake paired, a 2-turn session now; (Alex's API, the room's URL)."""
    alex_api, _blake_api, _blake_id, partnership_id = pair_up(base, EVENINGS, EVENINGS)
    created = alex_api.call(
        "POST",
        f"/partnerships/{partnership_id}/sessions",
        {"turns": 2, "teach_seconds": TEACH_SECONDS, "rate_seconds": RATE_SECONDS},
        status=201,
    )
    return alex_api, created["id"]


def live_room_server(make_live_server):
    return make_live_server(
        ALLY_SCHEDULER="on", ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1"
    )


# --- (a) and (b): the keyboard, and what a screen reader hears -------------------


def test_a_whole_turn_by_keyboard_alone_with_its_announcements(
    make_live_server, media_context, artifacts_dir: Path
) -> None:
    server = live_room_server(make_live_server)
    base = server.url
    alex_api, session_id = session_for_two(base)
    room_url = f"{base}/sessions/{session_id}/room"

    # Chromium with fake devices, so that joining the call really opens a
    # microphone and a camera.
    alex, alex_watch = new_person(lambda **kw: media_context(**kw), NEW_YORK)
    blake, blake_watch = new_person(
        lambda **kw: media_context(**kw), LONDON, viewport=PHONE
    )
    for page in (alex, blake):
        page.add_init_script(ANNOUNCER_PROBE)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    expect(alex.locator("#phase-label")).to_have_text("Turn 1 of 2 — you teach")
    expect_only_visible(alex, "teacher-view")
    expect_only_visible(blake, "listener-view")
    # The phase is announced, on both pages.
    expect(alex.locator("#room-announcer")).to_contain_text("Turn 1 of 2 — you teach")
    expect(blake.locator("#room-announcer")).to_contain_text(
        "Turn 1 of 2 — Alex teaches"
    )

    # --- The call's buttons, by keyboard (Alex). ---
    join = alex.get_by_role("button", name="Join the call")
    mute = alex.get_by_role("button", name="Mute", exact=True)
    camera = alex.get_by_role("button", name="Camera", exact=True)
    tab_to(alex, join)
    alex.keyboard.press("Enter")
    expect(alex.locator("#call-state")).to_have_text(
        "Waiting for Blake to join the call…"
    )
    # The join button is gone: the keyboard is on Mute.
    expect(mute).to_be_focused()
    expect(mute).to_have_attribute("aria-pressed", "false")
    alex.keyboard.press("Space")
    expect(mute).to_have_attribute("aria-pressed", "true")
    alex.keyboard.press("Enter")
    expect(mute).to_have_attribute("aria-pressed", "false")
    alex.keyboard.press("Tab")
    expect(camera).to_be_focused()
    alex.keyboard.press("Enter")
    expect(camera).to_have_attribute("aria-pressed", "true")
    expect(alex.locator("#call-local-video")).to_be_visible()
    alex.keyboard.press("Space")
    expect(camera).to_have_attribute("aria-pressed", "false")
    expect(alex.locator("#call-local-video")).to_be_hidden()
    alex.keyboard.press("Shift+Tab")
    expect(mute).to_be_focused()
    leave = alex.get_by_role("button", name="Leave the call")
    tab_to(alex, leave)
    alex.keyboard.press("Enter")
    expect(alex.locator("#call-state")).to_have_text("You are not in the call.")
    expect(join).to_be_focused()

    # --- Alex names the topic: Tab to the box, type, Enter. ---
    ask = alex.get_by_label("Turn 1 is yours — what will you teach?")
    tab_to(alex, ask)
    alex.keyboard.type(TOPIC_1)
    alex.keyboard.press("Enter")
    for page, who in ((alex, "you teach"), (blake, "Alex teaches")):
        expect(page.locator("#phase-label")).to_have_text(
            f"Turn 1 of 2 — {who}: {TOPIC_1}"
        )
        expect(page.locator("#room-announcer")).to_contain_text(
            f"Turn 1 of 2 — {who}: {TOPIC_1}"
        )

    # --- Blake signals: a burst of three shortcut keys is one announcement
    # on Alex's page. ---
    tab_to(blake, blake.get_by_role("button", name="You lost me"))
    before = len(announced(alex))
    for key in ("j", "l", "s"):
        blake.keyboard.press(key)
    expect(blake.locator("#sent-count")).to_have_text("Sent: 3 signals this turn.")
    burst = "3 signals: Jargon, Lost me, Slower"
    expect(alex.locator("#room-announcer")).to_have_text(burst)
    expect(alex.locator("#signal-feed li")).to_have_count(3)
    assert announced(alex)[before:] == [burst], announced(alex)

    # One more, typed into the jargon box and sent with Enter, then one with
    # Enter on a button: each its own announcement.
    tab_to(blake, blake.get_by_label("Jargon word (optional)"), back=True)
    blake.keyboard.type("countercurrent")
    blake.keyboard.press("Enter")
    expect(alex.locator("#room-announcer")).to_have_text(
        "Signal: Jargon: “countercurrent”"
    )
    tab_to(blake, blake.get_by_role("button", name="Clear!"))
    blake.keyboard.press("Enter")
    expect(alex.locator("#room-announcer")).to_have_text("Signal: Clear")
    expect(blake.locator("#sent-count")).to_have_text("Sent: 5 signals this turn.")
    # The listener's own page does not announce its signals to itself.
    assert not [a for a in announced(blake) if "ignal" in a], announced(blake)

    # --- Alex ends the turn: Tab to the button, Enter. ---
    tab_to(alex, alex.get_by_role("button", name="I’m done explaining"))
    alex.keyboard.press("Enter")
    pause = f"Turn 1 of 2 — a pause to rate and reflect: {TOPIC_1}"
    for page in (alex, blake):
        expect(page.locator("#phase-label")).to_have_text(pause)
        expect(page.locator("#room-announcer")).to_contain_text(pause)
    expect_only_visible(alex, "reflect-view")
    expect_only_visible(blake, "rate-form")

    # --- Blake rates by keyboard: arrows in the scale, Tab to the note,
    # Space on the button. ---
    rate_form = blake.locator("#rate-form")
    choose_by_arrows(blake, rate_form, "simplicity", 4)
    tab_to(blake, blake.get_by_label("Where did you get lost? (optional)"))
    blake.keyboard.type("The salt part.")
    tab_to(blake, blake.get_by_role("button", name="Send rating"))
    blake.keyboard.press("Space")
    expect(blake.locator("#room-announcer")).to_contain_text(
        "Your rating was sent: 4/5."
    )
    expect(alex.locator("#room-announcer")).to_have_text(
        "Blake has rated this turn — rate yourself to see it."
    )
    expect(alex.locator("#their-rating")).to_have_text(
        "Blake has rated this turn — rate yourself to see it."
    )

    # --- Alex writes a summary and rates themselves, by keyboard. ---
    tab_to(alex, alex.get_by_label("Now write it in two or three plain sentences"))
    alex.keyboard.type(SUMMARY)
    tab_to(alex, alex.get_by_role("button", name="Save summary"))
    alex.keyboard.press("Enter")
    expect(alex.locator("#summary-form")).to_be_hidden()
    choose_by_arrows(alex, alex.locator("#self-rate-form"), "self", 3)
    tab_to(alex, alex.get_by_role("button", name="Rate myself (counts as ready)"))
    alex.keyboard.press("Space")

    # Turn 2 starts; Alex hears Blake's figure (now that Alex rated) and the
    # new phase.
    expect(alex.locator("#phase-label")).to_have_text("Turn 2 of 2 — Blake teaches")
    expect(alex.locator("#room-announcer")).to_contain_text("Blake rated it 4/5.")
    expect(alex.locator("#room-announcer")).to_contain_text(
        "Turn 2 of 2 — Blake teaches"
    )
    expect(blake.locator("#room-announcer")).to_contain_text("Turn 2 of 2 — you teach")
    expect_only_visible(alex, "listener-view")
    expect_only_visible(blake, "teacher-view")
    shoot_both(alex, artifacts_dir, "keyboard-alex-listens-turn-2")

    stored = alex_api.call("GET", f"/sessions/{session_id}")["turns"][0]
    assert (stored["topic"], stored["simplicity"], stored["summary"]) == (
        TOPIC_1,
        4,
        SUMMARY,
    ), stored
    assert alex_watch.problems == [], alex_watch.problems
    assert blake_watch.problems == [], blake_watch.problems


# --- (c): requests live -------------------------------------------------------------


def test_a_request_updates_the_dashboard_and_menu_without_a_reload(
    new_context, live_server, artifacts_dir: Path
) -> None:
    base = live_server.url
    # Alex's afternoon in New York is Blake's evening in London.
    afternoons = {"start": "12:00", "end": "17:00", "weekdays": None}
    make_student(base, "alex@example.org", "Alex", NEW_YORK, afternoons)
    make_student(base, "blake@example.org", "Blake", LONDON, EVENINGS)
    alex, alex_watch = new_person(new_context, NEW_YORK)
    blake, blake_watch = new_person(new_context, LONDON, viewport=PHONE)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")

    blake_watch.open_live(blake, f"{base}/")
    section = blake.locator("#requests-section")
    expect(section).to_contain_text("No pending requests.")
    expect(blake.locator("#incoming-count")).to_have_count(0)
    expect(blake.locator("#menu-count")).to_be_hidden()
    blake.evaluate("window.__marker = 1")
    blake_watch.navigations.clear()

    # Alex asks Blake through the suggestions page.
    alex.goto(f"{base}/partners")
    alex.get_by_text("Ask Blake to be partners").click()
    alex.get_by_label("Message (optional)").fill("Evenings, daily?")
    alex.get_by_role("button", name="Send request").click()
    expect(alex.locator(".flash-success")).to_contain_text("Request sent.")

    # Blake's open dashboard: the toast, the section, the menu's counts.
    expect(blake.locator("#toasts .toast")).to_contain_text("Alex")
    expect(section).to_contain_text("Waiting for your answer")
    expect(section.get_by_role("listitem")).to_contain_text("Alex: “Evenings, daily?”")
    expect(section.get_by_role("button", name="Accept")).to_be_visible()
    expect(section).not_to_contain_text("No pending requests.")
    expect(blake.locator("#incoming-count")).to_have_text("1")
    expect(blake.locator("#unread-count")).to_have_text("1")
    menu_count = blake.locator("#menu-count")
    expect(menu_count).to_be_visible()
    expect(menu_count).to_have_text("2")  # one request, one unread notification
    blake.get_by_role("button", name="Menu").click()
    expect(
        blake.locator("#nav-requests").get_by_role("link", name=re.compile("^Requests"))
    ).to_contain_text("1 waiting for you")
    assert blake.evaluate("window.__marker") == 1, "the dashboard was reloaded"
    assert blake_watch.navigations == [], blake_watch.navigations
    no_sideways_scroll(blake)
    shoot_both(blake, artifacts_dir, "phone-dashboard-request-arrived")

    # Blake declines from the refreshed section (its buttons work).
    blake.get_by_role("button", name="Menu").click()
    section.get_by_role("button", name="Decline").click()
    expect(blake.locator(".flash-success")).to_contain_text("declined")

    # Alex's /requests on a phone: the history stacks, each cell labelled.
    alex.set_viewport_size(PHONE)
    alex.goto(f"{base}/requests")
    table = alex.get_by_role("table")
    expect(table.locator("td[data-label=With]")).to_have_text("Blake")
    expect(table.locator("td[data-label=Outcome]")).to_have_text("declined")
    assert table.evaluate("t => getComputedStyle(t).display") == "block"
    label = table.locator("td[data-label=Outcome]").evaluate(
        "td => getComputedStyle(td, '::before').content"
    )
    assert label == '"Outcome"', label
    # Stacked, one cell under the other, not side by side.
    cells = [
        table.locator(f"td[data-label={n}]").bounding_box()
        for n in ("With", "Sent", "Outcome")
    ]
    assert cells[0]["y"] < cells[1]["y"] < cells[2]["y"], cells
    assert layout_problems(alex) == [], layout_problems(alex)
    shoot_both(alex, artifacts_dir, "phone-requests-history")
    assert alex_watch.problems == [], alex_watch.problems
    assert blake_watch.problems == [], blake_watch.problems


# --- (d): busy buttons -----------------------------------------------------------------


# Reports each change of the form's submit button on the console. While a
# form's navigation is pending, Chromium holds DevTools commands to the page
# (evaluate, locators) until it ends; what the page says still comes out.
BUTTON_PROBE = """
document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector("main form button[type=submit]");
  if (!button) return;
  const report = () =>
    console.info(`button: busy=${button.getAttribute("aria-busy")} disabled=${button.disabled}`);
  new MutationObserver(report).observe(button, {
    attributes: true, attributeFilter: ["aria-busy", "disabled"],
  });
});
"""
BUSY = "button: busy=true disabled=true"


def test_a_submit_is_busy_while_its_request_runs_and_normal_after_errors(
    new_context, live_server
) -> None:
    base = live_server.url
    page, watch = new_person(new_context, LONDON)
    page.add_init_script(BUTTON_PROBE)
    said: list[str] = []
    page.on("console", lambda message: said.append(message.text))
    held: list[Route] = []

    def hold(route: Route) -> None:
        if route.request.method == "POST":
            held.append(route)  # answered below, once the busy state is seen
        else:
            route.continue_()

    page.route(f"{base}/register", hold)
    page.goto(f"{base}/register")
    button = page.get_by_role("main").get_by_role("button", name="Sign up")
    expect(button).not_to_have_attribute("aria-busy", "true")
    expect(button).to_be_enabled()
    # Two mistakes: a short password and a confirmation that differs.
    page.get_by_label("Email").fill("casey@example.org")
    page.get_by_label("Display name").fill("Casey")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat password").fill("different")
    # Enter in the last field submits (a click would wait for the held page).
    page.keyboard.press("Enter")

    # Wait until the request is held and the button has said it is busy and
    # disabled. Each browser-level call lets Playwright run the route handler
    # and the console listener; none of them touches the waiting page.
    for _ in range(1000):
        if held and BUSY in said:
            break
        page.context.cookies()
    assert len(held) == 1, held
    assert BUSY in said, said
    assert said[-1] == BUSY, said  # and nothing undid it while held
    held[0].continue_()

    expect(page.locator("#register-problems")).to_contain_text("2 things to fix")
    button = page.get_by_role("main").get_by_role("button", name="Sign up")
    expect(button).not_to_have_attribute("aria-busy", "true")
    expect(button).to_be_enabled()
    expect(page.get_by_label("Password", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    # The re-rendered form submits again.
    page.unroute(f"{base}/register")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    button.click()
    expect(page.get_by_role("heading", name="Your profile", level=1)).to_be_visible()
    # The re-rendered form with its errors answers 400 (the browser logs
    # that too); nothing else failed.
    assert sorted(watch.problems) == [
        f"HTTP 400 {base}/register",
        "console error: Failed to load resource: the server responded with a"
        " status of 400 (BAD REQUEST)",
    ], watch.problems


# --- (e) and the screenshots: axe on a live room --------------------------------------


def check_room(page: Page, label: str, artifacts_dir: Path, found: dict) -> None:
    """axe on the room as it is now; a screenshot; nothing cut off on a phone."""
    found[label] = run_axe(page)
    shoot_both(page, artifacts_dir, f"room-{label}")
    if label.startswith("phone"):
        assert layout_problems(page) == [], (label, layout_problems(page))


def test_axe_finds_nothing_serious_in_a_live_room(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = live_room_server(make_live_server)
    base = server.url
    _alex_api, session_id = session_for_two(base)
    room_url = f"{base}/sessions/{session_id}/room"

    people = {}
    for name, zone, viewport in (("Alex", NEW_YORK, PHONE), ("Blake", LONDON, DESKTOP)):
        page, watch = new_person(new_context, zone, viewport=viewport)
        # axe and full-page screenshots of long pages are slow on a busy machine.
        page.set_default_timeout(30_000)
        page.context.add_init_script(path=str(AXE))
        log_in(page, base, f"{name.lower()}@example.org", name)
        watch.open_live(page, room_url)
        people[name] = (page, watch)
    alex, blake = people["Alex"][0], people["Blake"][0]
    found: dict[str, list] = {}

    # Turn 1: Alex (phone) teaches, Blake (desktop) listens and signals.
    alex.get_by_label("Turn 1 is yours — what will you teach?").fill(TOPIC_1)
    alex.get_by_role("button", name="Set topic").click()
    expect(blake.locator("#phase-label")).to_have_text(
        f"Turn 1 of 2 — Alex teaches: {TOPIC_1}"
    )
    blake.get_by_label("Jargon word (optional)").fill("countercurrent")
    blake.get_by_role("button", name="Jargon!").click()
    blake.get_by_role("button", name="You lost me").click()
    expect(alex.locator("#signal-feed li")).to_have_count(2)
    check_room(alex, "phone-teaching", artifacts_dir, found)
    check_room(blake, "desktop-listening", artifacts_dir, found)

    alex.get_by_role("button", name="I’m done explaining").click()
    expect_only_visible(alex, "reflect-view")
    expect_only_visible(blake, "rate-form")
    check_room(alex, "phone-reflecting", artifacts_dir, found)
    check_room(blake, "desktop-rating", artifacts_dir, found)
    # Blake's guess for turn 2 waits below the rating that is due now (on
    # screen and in the Tab order).
    guess = blake.locator("#predict-form")
    expect(guess).to_be_visible()
    rating_box = blake.locator("#rate-form").bounding_box()
    assert rating_box["y"] + rating_box["height"] <= guess.bounding_box()["y"]
    blake.locator("#rate-form").get_by_label("4 Clear", exact=True).check()
    blake.get_by_role("button", name="Send rating").click()
    alex.locator("#self-rate-form").get_by_label("3 Mostly clear").check()
    alex.get_by_role("button", name="Rate myself (counts as ready)").click()

    # Turn 2: Blake (desktop) teaches, Alex (phone) listens.
    expect(alex.locator("#phase-label")).to_have_text("Turn 2 of 2 — Blake teaches")
    blake.get_by_label("Turn 2 is yours — what will you teach?").fill(TOPIC_2)
    blake.get_by_role("button", name="Set topic").click()
    expect(alex.locator("#phase-label")).to_have_text(
        f"Turn 2 of 2 — Blake teaches: {TOPIC_2}"
    )
    alex.get_by_role("button", name="Slower").click()
    expect(blake.locator("#signal-feed li")).to_have_count(1)
    check_room(alex, "phone-listening", artifacts_dir, found)
    # On the phone the question box has the whole line, the buttons below it.
    question = alex.get_by_label("Ask for the cause or the mechanism", exact=False)
    row = alex.locator("#question-form .inline-row").bounding_box()
    assert question.bounding_box()["width"] >= row["width"] - 1, row
    why = alex.get_by_role("button", name="Why?").bounding_box()
    assert why["y"] >= question.bounding_box()["y"] + question.bounding_box()["height"]
    check_room(blake, "desktop-teaching", artifacts_dir, found)

    blake.get_by_role("button", name="I’m done explaining").click()
    expect_only_visible(alex, "rate-form")
    expect_only_visible(blake, "reflect-view")
    check_room(alex, "phone-rating", artifacts_dir, found)
    check_room(blake, "desktop-reflecting", artifacts_dir, found)

    report = [
        f"{label}: "
        + (", ".join(f"{v['id']} ({v['impact']})" for v in violations) or "none")
        for label, violations in found.items()
    ]
    (artifacts_dir / "axe-live-room.txt").write_text("\n".join(report) + "\n")
    serious = {label: blocking(v) for label, v in found.items() if blocking(v)}
    assert serious == {}, serious
    for _page, watch in people.values():
        assert watch.problems == [], watch.problems
