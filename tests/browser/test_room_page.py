"""Two partners run a 2-turn session entirely through the room page.

Alex (New York, desktop) and Blake (London, phone 390x844) are paired through
the JSON API; Alex starts an extra 2-turn session (5 minutes of teaching and 3
of rating per turn: long enough that no deadline passes during the test, which
is driven by clicks) and so teaches first. The server runs its scheduler (the
room clock's 1-second job), as in production. Everything after that happens
in the two browser pages:

1. Alex waits alone; teaching starts when Blake comes in: the phase label,
   the big countdown going down, the progress bar growing, each partner shown
   "in the room".
2. Alex is asked for the turn's topic ("Turn 1 is yours — what will you
   teach?") and names it; both pages show it. Alex's page has no notes: no
   listener panel, no rating form, no summary box.
3. Blake flags jargon with a word (input + button) and presses ``L``; Alex's
   page shows each signal as it arrives (the feed, the word, the tally).
4. Alex says "I'm done explaining": a pause for both. Blake's rating form
   appears (1-5 labelled in words), Alex's reflect view (self-rating, summary,
   "I'm ready"); both pages say whom the pause waits for. Blake rates 3 with
   a note: the pause goes on, Blake's page says "Alex is writing a summary";
   Alex sees that a rating came (its figure only after rating themselves),
   saves a summary, rates themselves (counts as ready) and turn 2 starts.
5. Turn 2, roles swapped. Alex's connection drops (browser offline): the
   reconnecting banner shows; meanwhile Blake names the topic, finishes,
   writes a summary and rates themselves: the pause waits for Alex. Back
   online, Alex's page recovers with that state (the rating form). Alex
   rates 5 and the session completes on both pages: only "Session complete"
   with a link to the summary, nothing left to fill.
6. The summary page shows both turns: topic, rating, note, jargon words,
   summary text and the timeline of signals.

Screenshots of each step, desktop and phone, go to ``tests/artifacts/``.
No console errors and no failed requests on either page (the requests that
fail while Alex is offline are checked apart: only the socket's reconnection).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.test_dashboard_live import (
    LONDON,
    NEW_YORK,
    PHONE,
    log_in,
    new_person,
    no_sideways_scroll,
    pair_up,
)
from tests.support.room_page import (
    EXPECT_TIMEOUT_MS,
    expect_only_visible,
    shoot,
)

TURN_1_TOPIC = "Renin–angiotensin–aldosterone system"
TURN_2_TOPIC = "Frank–Starling mechanism"
JARGON_1 = "angiotensinogen"
JARGON_2 = "preload"
NOTE_1 = "Lost me when the kidney talked to the lungs"
NOTE_2 = "The rubber band picture made it click"
SUMMARY_1 = (
    "When blood pressure drops, the kidney releases renin. That starts a chain "
    "that tightens blood vessels and keeps salt and water, so pressure rises."
)
SUMMARY_2 = (
    "The more the heart fills, the harder it squeezes, like a stretched rubber "
    "band snapping back. Up to a point."
)
# Touch targets on a phone: the buttons used while someone talks should be
# comfortable (WCAG 2.5.5, 44 CSS px); every other target at least the
# WCAG 2.2 AA minimum (2.5.8, 24 CSS px).
COMFORTABLE_PX = 44
MINIMUM_PX = 24
TEACH_SECONDS = 300
RATE_SECONDS = 180
# Every expectation waits up to this long (a busy 2-core machine runs two
# Chromiums and the server): a state that never comes still fails.


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=None)  # back to Playwright's default


def countdown_seconds(page: Page) -> int:
    """The room's big countdown ("1:58") in seconds."""
    text = page.locator("#countdown").inner_text().strip()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    assert match, f"countdown {text!r} is not M:SS"
    return int(match[1]) * 60 + int(match[2])


def progress_percent(page: Page) -> float:
    width = page.locator("#progress").evaluate("el => el.style.width")
    assert width.endswith("%"), width
    return float(width[:-1])


def wait_for_clock_to_move(page: Page) -> None:
    """The countdown goes down and the progress bar grows (phase of minutes)."""
    before_left, before_bar = countdown_seconds(page), progress_percent(page)
    page.wait_for_function(
        """([left, bar]) => {
            const [m, s] = document.getElementById("countdown").textContent.split(":");
            const now = Number(m) * 60 + Number(s);
            const width = parseFloat(document.getElementById("progress").style.width);
            return now < left && width > bar;
        }""",
        arg=[before_left, before_bar],
    )
    assert countdown_seconds(page) < before_left
    assert progress_percent(page) > before_bar


def expect_tally(page: Page, **counts: int) -> None:
    for kind in ("jargon", "lost", "slower", "clear"):
        expect(page.locator(f"#tally li[data-kind={kind}] strong")).to_have_text(
            str(counts.get(kind, 0))
        )


def touch_heights(locator: Locator) -> list[float]:
    """The rendered height of each element, in CSS pixels."""
    return locator.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")


def assert_touch_friendly(
    locator: Locator, what: str, at_least: int = COMFORTABLE_PX
) -> None:
    heights = touch_heights(locator)
    assert heights, f"no {what} on the page"
    small = [h for h in heights if h < at_least]
    assert not small, f"{what}: targets {heights} px high, under {at_least}"


def test_two_partners_run_a_two_turn_session_through_the_room(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = make_live_server(
        ALLY_SCHEDULER="on", ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1"
    )
    base = server.url
    evenings = {"start": "18:00", "end": "21:00", "weekdays": None}
    alex_api, blake_api, blake_id, partnership_id = pair_up(base, evenings, evenings)
    alex_id = alex_api.call("GET", "/me")["id"]
    created = alex_api.call(
        "POST",
        f"/partnerships/{partnership_id}/sessions",
        {"turns": 2, "teach_seconds": TEACH_SECONDS, "rate_seconds": RATE_SECONDS},
        status=201,
    )
    session_id = created["id"]
    assert [(t["teacher_id"], t["listener_id"]) for t in created["plan"]] == [
        (alex_id, blake_id),
        (blake_id, alex_id),
    ]
    room_url = f"{base}/sessions/{session_id}/room"

    alex, alex_watch = new_person(new_context, NEW_YORK)
    blake, blake_watch = new_person(new_context, LONDON, viewport=PHONE)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")

    # 1. Alex alone: waiting, Blake not in the room; then Blake comes in and
    # teaching starts on both pages with the clock running.
    alex_watch.open_live(alex, room_url)
    expect(alex.locator("#phase-label")).to_have_text(
        "Waiting for both of you. You teach first."
    )
    expect(alex.locator("#partner-presence-text")).to_have_text(
        "Blake is not in the room"
    )
    # An extra session starts now: nothing left to count down while waiting.
    expect(alex.locator("#countdown")).to_have_text("--:--")
    assert progress_percent(alex) == 0
    expect_only_visible(alex)
    shoot(alex, artifacts_dir, "01-desktop-alex-waiting")

    blake_watch.open_live(blake, room_url)
    for page, label, partner in (
        (alex, "Turn 1 of 2 — you teach", "Blake"),
        (blake, "Turn 1 of 2 — Alex teaches", "Alex"),
    ):
        expect(page.locator("#phase-label")).to_have_text(label)
        expect(page.locator("#partner-presence-text")).to_have_text(
            f"{partner} is in the room"
        )
        expect(page.locator("#partner-presence")).to_have_class("dot online")
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^[45]:\d\d$"))
        assert TEACH_SECONDS - 30 <= countdown_seconds(page) <= TEACH_SECONDS
        wait_for_clock_to_move(page)
    expect_only_visible(alex, "teacher-view")
    expect_only_visible(blake, "listener-view")
    shoot(alex, artifacts_dir, "02-desktop-alex-teaching-starts")
    shoot(blake, artifacts_dir, "02-phone-blake-listening-starts")

    # 2. Alex is asked for the topic and names it: both pages show it. Blake
    # may already name the next turn's.
    ask = "Turn 1 is yours — what will you teach?"
    expect(alex.locator("#topic-label")).to_have_text(ask)
    expect(alex.get_by_label(ask)).to_have_value("")
    expect(blake.locator("#topic-label")).to_have_text(
        "Turn 2 is yours — what will you teach?"
    )
    alex.get_by_label(ask).fill(TURN_1_TOPIC)
    alex.get_by_role("button", name="Set topic").click()
    for page, label in (
        (alex, f"Turn 1 of 2 — you teach: {TURN_1_TOPIC}"),
        (blake, f"Turn 1 of 2 — Alex teaches: {TURN_1_TOPIC}"),
    ):
        expect(page.locator("#phase-label")).to_have_text(label)
    expect(alex.locator("#turns-list li").first).to_have_text(f"You — {TURN_1_TOPIC}")
    expect(blake.locator("#turns-list li").first).to_have_text(f"Alex — {TURN_1_TOPIC}")
    # From memory: the teacher's page has the clock and the signals only (the
    # topic form goes once the topic is named).
    expect(alex.locator("#topic-form")).to_be_hidden()
    expect_only_visible(alex, "teacher-view")
    expect(alex.locator("#signal-feed li")).to_have_count(0)
    expect_tally(alex)

    # 3. Blake flags jargon with the word, then presses L (lost).
    assert_touch_friendly(
        blake.locator("#listener-view button"), "the phone's signal buttons"
    )
    blake.get_by_label("Jargon word (optional)").fill(JARGON_1)
    blake.get_by_role("button", name="Jargon!").click()
    expect(alex.locator("#signal-feed li")).to_have_text([f"Jargon: “{JARGON_1}”"])
    expect_tally(alex, jargon=1)
    expect(blake.get_by_label("Jargon word (optional)")).to_have_value("")
    blake.keyboard.press("l")
    expect(alex.locator("#signal-feed li")).to_have_text(
        ["Lost me", f"Jargon: “{JARGON_1}”"]
    )
    expect_tally(alex, jargon=1, lost=1)
    expect(blake.locator("#sent-count")).to_have_text("Sent: 2 signals this turn.")
    expect_only_visible(alex, "teacher-view")
    shoot(alex, artifacts_dir, "03-desktop-alex-sees-signals")
    shoot(blake, artifacts_dir, "03-phone-blake-sent-signals")
    no_sideways_scroll(blake)

    # 4. Alex is done: a pause for both. Blake's rating form (1-5 in words)
    # appears, Alex's reflect view; both pages say whom the pause waits for.
    alex.get_by_role("button", name="I’m done explaining").click()
    for page in (alex, blake):
        expect(page.locator("#phase-label")).to_have_text(
            f"Turn 1 of 2 — a pause to rate and reflect: {TURN_1_TOPIC}"
        )
        expect(page.locator("#turn-line")).to_have_text(
            "Next: You teach." if page is blake else "Next: Blake teaches."
        )
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^[23]:\d\d$"))
        assert RATE_SECONDS - 30 <= countdown_seconds(page) <= RATE_SECONDS
    expect(alex.locator("#waiting-line")).to_have_text(
        re.compile(
            r"^You are writing a summary and Blake is rating — the next turn "
            r"starts when both are done, or in [23]:\d\d\.$"
        )
    )
    expect(blake.locator("#waiting-line")).to_have_text(
        re.compile(r"^Alex is writing a summary and you are rating — ")
    )
    expect_only_visible(blake, "rate-form")
    # Blake may name the next topic while rating (the form below).
    expect(blake.locator("#topic-label")).to_have_text(
        "Turn 2 is yours — what will you teach?"
    )
    scale = blake.locator("#rate-form fieldset.scale label")
    expect(scale).to_have_text(
        [
            "1 You lost me",
            "2 Hard to follow",
            "3 Got most of it",
            "4 Clear",
            "5 A 12-year-old would get it",
        ]
    )
    assert_touch_friendly(scale, "the phone's rating choices", MINIMUM_PX)
    expect(blake.locator("#rate-form input:checked")).to_have_count(0)
    # The word Blake flagged is offered as the rating's jargon.
    expect(blake.get_by_label("Jargon words (comma separated)")).to_have_value(JARGON_1)
    expect_only_visible(alex, "reflect-view")
    expect(alex.locator("#self-rate-form")).to_be_visible()
    expect(alex.locator("#summary-form")).to_be_visible()
    expect(alex.get_by_role("button", name="I’m ready — next turn")).to_be_visible()
    expect(alex.locator("#their-rating")).to_be_hidden()
    expect(alex.locator("#topic-form")).to_be_hidden()  # Alex teaches no more
    shoot(alex, artifacts_dir, "04-desktop-alex-reflects")
    shoot(blake, artifacts_dir, "04-phone-blake-rating-form")
    no_sideways_scroll(blake)

    blake.locator("#rate-form").get_by_label("3 Got most of it").check()
    blake.get_by_label("Where did you get lost? (optional)").fill(NOTE_1)
    shoot(blake, artifacts_dir, "05-phone-blake-rating-filled")
    blake.get_by_role("button", name="Send rating").click()

    # Rated: the pause goes on while Alex reflects. Alex learns that a rating
    # came, not its figure: the turn list hides it too.
    expect(blake.locator("#rate-form")).to_be_hidden()
    expect(blake.locator("#waiting-line")).to_have_text(
        re.compile(
            r"^Alex is writing a summary — the next turn starts when that is "
            r"done, or in [0-3]:\d\d\.$"
        )
    )
    expect(alex.locator("#waiting-line")).to_have_text(
        re.compile(r"^You are writing a summary — the next turn starts when that")
    )
    expect(alex.locator("#their-rating")).to_have_text(
        "Blake has rated this turn — rate yourself to see it."
    )
    for page in (alex, blake):
        expect(page.locator("#phase-label")).to_have_text(
            f"Turn 1 of 2 — a pause to rate and reflect: {TURN_1_TOPIC}"
        )
    expect(alex.locator("#turns-list li").first).to_have_text(f"You — {TURN_1_TOPIC}")
    expect(blake.locator("#turns-list li").first).to_have_text(
        f"Alex — {TURN_1_TOPIC} · 3/5"
    )
    expect_only_visible(alex, "reflect-view")
    expect_only_visible(blake)
    shoot(alex, artifacts_dir, "06-desktop-alex-rated-before-self-rating")
    shoot(blake, artifacts_dir, "06-phone-blake-rated-waits-for-alex")
    no_sideways_scroll(blake)

    # Alex saves a summary (still reflecting), then rates themselves, which
    # counts as ready: turn 2 starts at once, and Alex sees the figure.
    alex.get_by_label("Now write it in two or three plain sentences").fill(SUMMARY_1)
    alex.get_by_role("button", name="Save summary").click()
    expect(alex.locator("#summary-form")).to_be_hidden()
    expect_only_visible(alex, "reflect-view")
    # Saved: the summary is written, the self-rating still to come.
    expect(blake.locator("#waiting-line")).to_contain_text("Alex is finishing up")
    alex.locator("#self-rate-form").get_by_label("3 Mostly clear").check()
    alex.get_by_role("button", name="Rate myself").click()
    expect(blake.locator("#phase-label")).to_have_text("Turn 2 of 2 — you teach")
    expect(alex.locator("#phase-label")).to_have_text("Turn 2 of 2 — Blake teaches")
    expect(alex.locator("#turns-list li").first).to_have_text(
        f"You — {TURN_1_TOPIC} · 3/5"
    )
    for page in (alex, blake):
        expect(page.locator("#waiting-line")).to_be_hidden()
        expect(page.locator("#turn-line")).to_have_text("")
    expect_only_visible(alex, "listener-view")
    expect(alex.locator("#sent-count")).to_have_text("")
    shoot(alex, artifacts_dir, "07-desktop-alex-listens-turn-2")

    # 5. Turn 2: Alex listens on the desktop and signals by keys and buttons.
    expect_only_visible(blake, "teacher-view")
    blake_feed = blake.locator("#signal-feed li")
    expect(blake_feed).to_have_count(0)
    expect_tally(blake)
    alex.get_by_label("Jargon word (optional)").fill(JARGON_2)
    alex.get_by_label("Jargon word (optional)").press("Enter")
    expect(blake_feed).to_have_text([f"Jargon: “{JARGON_2}”"])
    alex.get_by_role("button", name="Slower").click()
    alex.keyboard.press("c")
    expect(blake_feed).to_have_text(["Clear", "Slower", f"Jargon: “{JARGON_2}”"])
    expect_tally(blake, jargon=1, slower=1, clear=1)
    expect(alex.locator("#sent-count")).to_have_text("Sent: 3 signals this turn.")
    shoot(blake, artifacts_dir, "08-phone-blake-teaching-sees-signals")
    no_sideways_scroll(blake)
    assert_touch_friendly(
        blake.get_by_role("button", name="I’m done explaining"), "Done"
    )

    # Alex's connection drops: the banner shows. Meanwhile Blake names the
    # topic, finishes, writes a summary and rates themselves (ready): the
    # pause waits for Alex's rating. Back online, Alex's page has that state.
    problems_before = len(alex_watch.problems)
    alex.context.set_offline(True)
    expect(alex.locator("#reconnecting")).to_be_visible()
    expect(alex.locator("#reconnecting")).to_contain_text("reconnecting")
    expect(blake.locator("#partner-presence-text")).to_have_text(
        "Alex is not in the room"
    )
    shoot(alex, artifacts_dir, "09-desktop-alex-offline-banner")
    shoot(blake, artifacts_dir, "09-phone-blake-partner-gone")
    ask = "Turn 2 is yours — what will you teach?"
    expect(blake.locator("#topic-label")).to_have_text(ask)
    expect(blake.get_by_label(ask)).to_have_value("")
    blake.get_by_label(ask).fill(TURN_2_TOPIC)
    blake.get_by_role("button", name="Set topic").click()
    expect(blake.locator("#phase-label")).to_have_text(
        f"Turn 2 of 2 — you teach: {TURN_2_TOPIC}"
    )
    expect(blake.locator("#topic-form")).to_be_hidden()
    blake.get_by_role("button", name="I’m done explaining").click()
    expect(blake.locator("#phase-label")).to_have_text(
        f"Turn 2 of 2 — a pause to rate and reflect: {TURN_2_TOPIC}"
    )
    expect_only_visible(blake, "reflect-view")
    expect(blake.locator("#self-rate-form input:checked")).to_have_count(0)
    expect(
        blake.get_by_label("Now write it in two or three plain sentences")
    ).to_have_value("")
    blake.get_by_label("Now write it in two or three plain sentences").fill(SUMMARY_2)
    blake.get_by_role("button", name="Save summary").click()
    expect(blake.locator("#summary-form")).to_be_hidden()
    blake.locator("#self-rate-form").get_by_label("4 Clear", exact=True).check()
    blake.get_by_role("button", name="Rate myself").click()
    expect_only_visible(blake)
    expect(blake.locator("#waiting-line")).to_have_text(
        re.compile(
            r"^Alex is rating — the session ends when that is done, or in [0-3]:\d\d\.$"
        )
    )
    shoot(blake, artifacts_dir, "10-phone-blake-ready-waits-for-alex")
    no_sideways_scroll(blake)
    expect(alex.locator("#phase-label")).to_have_text("Turn 2 of 2 — Blake teaches")

    alex.context.set_offline(False)
    expect(alex.locator("#reconnecting")).to_be_hidden()
    expect(alex.locator("#phase-label")).to_have_text(
        f"Turn 2 of 2 — a pause to rate and reflect: {TURN_2_TOPIC}"
    )
    expect(blake.locator("#partner-presence-text")).to_have_text("Alex is in the room")
    expect_only_visible(alex, "rate-form")
    expect(alex.locator("#rate-form input:checked")).to_have_count(0)
    expect(alex.get_by_label("Jargon words (comma separated)")).to_have_value(JARGON_2)
    expect(alex.locator("#waiting-line")).to_have_text(
        re.compile(r"^You are rating — the session ends when that is done, or in ")
    )
    shoot(alex, artifacts_dir, "10-desktop-alex-back-rating-form")
    offline = alex_watch.problems[problems_before:]
    del alex_watch.problems[problems_before:]
    unexpected = [p for p in offline if "/socket.io/" not in p]
    assert not unexpected, unexpected

    alex.locator("#rate-form").get_by_label("5 A 12-year-old would get it").check()
    alex.get_by_label("Where did you get lost? (optional)").fill(NOTE_2)
    alex.get_by_role("button", name="Send rating").click()
    for page in (alex, blake):
        expect(page.locator("#phase-label")).to_have_text("Session complete.")
        expect(page.locator("#countdown")).to_have_text("✓")
        expect(page.locator("#progress")).to_have_attribute("style", "width: 100%;")
        done = page.locator("#done-view")
        expect(done).to_be_visible()
        expect(done.get_by_role("heading")).to_have_text("Session complete")
        expect(done.get_by_role("link", name="session summary")).to_have_attribute(
            "href", f"/sessions/{session_id}/summary"
        )
        expect(page.locator("#turns-list li.done")).to_have_count(2)
        # Nothing still to fill: the end screen alone.
        expect_only_visible(page, "done-view")
        expect(page.locator("#topic-form")).to_be_hidden()
        expect(page.locator("#waiting-line")).to_be_hidden()
        expect(page.locator("#turn-line")).to_have_text("")
    expect(blake.locator("#turns-list li")).to_have_text(
        [f"Alex — {TURN_1_TOPIC} · 3/5", f"You — {TURN_2_TOPIC} · 5/5"]
    )
    shoot(alex, artifacts_dir, "11-desktop-alex-session-complete")
    shoot(blake, artifacts_dir, "11-phone-blake-session-complete")
    no_sideways_scroll(blake)

    # 6. The summary page, from the room's link, on both screens.
    alex.locator("#done-view").get_by_role("link", name="session summary").click()
    expect(alex).to_have_url(f"{base}/sessions/{session_id}/summary")
    blake.locator("#done-view").get_by_role("link", name="session summary").click()
    expect(blake).to_have_url(f"{base}/sessions/{session_id}/summary")
    for page, viewer in ((alex, "alex"), (blake, "blake")):
        expect(page.locator(".status")).to_have_text("completed")
        first, second = page.locator("#turn-0"), page.locator("#turn-1")
        expect(first.get_by_role("heading", level=2)).to_have_text(
            f"Turn 1: {'You' if viewer == 'alex' else 'Alex'} taught {TURN_1_TOPIC}"
        )
        expect(second.get_by_role("heading", level=2)).to_have_text(
            f"Turn 2: {'You' if viewer == 'blake' else 'Blake'} taught {TURN_2_TOPIC}"
        )
        expect(first.locator(".simplicity")).to_have_text("3/5")
        expect(second.locator(".simplicity")).to_have_text("5/5")
        expect(first.locator("dd").first).to_contain_text("self-rating 3/5")
        expect(second.locator("dd").first).to_contain_text("self-rating 4/5")
        expect(first.locator(".note")).to_have_text(f"“{NOTE_1}”")
        expect(second.locator(".note")).to_have_text(f"“{NOTE_2}”")
        expect(first.locator("mark")).to_have_text([JARGON_1])
        expect(second.locator("mark")).to_have_text([JARGON_2])
        expect(first.locator(".summary-text")).to_have_text(SUMMARY_1)
        expect(second.locator(".summary-text")).to_have_text(SUMMARY_2)
        expect(first.locator(".turn-facts")).to_contain_text(
            "jargon 1 · lost 1 · slower 0 · clear 0"
        )
        expect(second.locator(".turn-facts")).to_contain_text(
            "jargon 1 · lost 0 · slower 1 · clear 1"
        )
        # The timeline: each signal at its offset in the turn (M:SS), in order.
        offset = r"0:\d\d "
        expect(first.locator(".timeline li")).to_have_text(
            [
                re.compile(f"^{offset}jargon — “{JARGON_1}”$"),
                re.compile(f"^{offset}lost$"),
            ]
        )
        expect(second.locator(".timeline li")).to_have_text(
            [
                re.compile(f"^{offset}jargon — “{JARGON_2}”$"),
                re.compile(f"^{offset}slower$"),
                re.compile(f"^{offset}clear$"),
            ]
        )
    shoot(alex, artifacts_dir, "13-desktop-alex-summary")
    shoot(blake, artifacts_dir, "13-phone-blake-summary")
    no_sideways_scroll(blake)

    # The same facts, from the API: what the pages showed was stored.
    stored = blake_api.call("GET", f"/sessions/{session_id}")
    assert stored["status"] == "completed"
    assert [
        (t["topic"], t["simplicity"], t["note"], t["jargon"], t["summary"])
        for t in stored["turns"]
    ] == [
        (TURN_1_TOPIC, 3, NOTE_1, [JARGON_1], SUMMARY_1),
        (TURN_2_TOPIC, 5, NOTE_2, [JARGON_2], SUMMARY_2),
    ]
    assert [[s["kind"] for s in t["signals"]] for t in stored["turns"]] == [
        ["jargon", "lost"],
        ["jargon", "slower", "clear"],
    ]

    assert alex_watch.problems == [], alex_watch.problems
    assert blake_watch.problems == [], blake_watch.problems
