"""A 4-turn session through the room: the pause waits for both, every turn
starts afresh, each turn's topic is asked for, and the end screen is final.

Alex (phone, 390 px wide) and Blake (desktop) run an extra 4-turn session
(A B A B). Phases are long (5 minutes of teaching, 3 of rating) so that no
deadline passes during the test: every step is a click (done, rate, rate
myself, ready), and every check waits for a state, never for time.

What the issue reported, each checked here:

(a) On the phone, the listener of the next turn never sees "You are
    listening" while their own "Your turn is over" still shows: the next turn
    does not start while the teacher reflects. A probe in each page records
    every change of the role panels (kept in sessionStorage, so a reload does
    not lose it); no two are ever shown at once.
(b) Every turn's forms start empty: turn 3's self-rating has nothing chosen
    although turn 1's was 4; the listener's "Sent: N signals" line is empty at
    the start of each of their turns; the rating's jargon box holds only this
    turn's words.
(c) Turn 3 does not reuse turn 1's topic (prepared on the session page, it is
    turn 1's only): in the pause after turn 1 Alex is asked "Turn 3 is yours —
    what will you teach?" with an empty box; after a reload the box offers
    Alex's topics and turn 1's (now "teach again", rated 2); Alex picks one,
    then changes it until turn 3 starts. Blake is asked for turn 4 afresh too.
(d) The end screen: "Session complete" with the summary link and nothing to
    fill, on both pages, also after a reload.

Screenshots go to ``tests/artifacts/<test name>/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

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
    ROLE_PANELS,
    expect_only_visible,
    shoot,
)

TEACH_SECONDS = 300
RATE_SECONDS = 180

PREPARED = "Renin–angiotensin–aldosterone system"  # Alex, on the session page
MY_TOPICS = ["Loop of Henle", "Countercurrent multiplier"]  # Alex's profile
TURN_2_TOPIC = "Frank–Starling mechanism"
TURN_4_TOPIC = "Baroreceptor reflex"
SUMMARY_2 = "The heart pumps out what comes in: stretch it more, it squeezes harder."
SUMMARY_3 = "The loop makes the deep kidney salty, so water can be pulled back later."


# Installed before the page's scripts: every change of which role panels are
# shown, with the phase label at that moment, appended to sessionStorage (the
# tab's, so it survives a reload). A MutationObserver runs after each change
# of the `hidden` attributes, that is after each render of room.js.
PANEL_PROBE = """
(() => {
  const PANELS = __PANELS__;
  const KEY = "__roomPanels";
  const record = () => {
    const shown = PANELS.filter((id) => {
      const el = document.getElementById(id);
      return el && !el.hidden;
    });
    const log = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    const entry = { shown, label: document.getElementById("phase-label").textContent };
    const last = log[log.length - 1];
    if (!last || last.shown.join() !== shown.join() || last.label !== entry.label) {
      log.push(entry);
      sessionStorage.setItem(KEY, JSON.stringify(log));
    }
  };
  document.addEventListener("DOMContentLoaded", () => {
    const room = document.getElementById("room");
    if (!room) return;
    record();
    new MutationObserver(record).observe(room, {
      attributes: true,
      attributeFilter: ["hidden"],
      characterData: true,
      childList: true,
      subtree: true,
    });
  });
})();
""".replace("__PANELS__", json.dumps(ROLE_PANELS))


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=None)  # back to Playwright's default


def panel_history(page: Page) -> list[dict]:
    return page.evaluate("JSON.parse(sessionStorage.getItem('__roomPanels') || '[]')")


def pause_label(turn: int, topic: str) -> str:
    return f"Turn {turn} of 4 — a pause to rate and reflect: {topic}"


def waiting(text: str) -> re.Pattern[str]:
    """The waiting line: ``text`` then the time left ("or in 2:41.")."""
    return re.compile(f"^{re.escape(text)}, or in [0-3]:\\d\\d\\.$")


def test_four_turns_each_pause_waits_for_both_and_each_turn_starts_afresh(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = make_live_server(
        ALLY_SCHEDULER="on", ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1"
    )
    base = server.url
    evenings = {"start": "18:00", "end": "21:00", "weekdays": None}
    alex_api, _blake_api, blake_id, partnership_id = pair_up(base, evenings, evenings)
    alex_id = alex_api.call("GET", "/me")["id"]
    for title in MY_TOPICS:
        alex_api.call("POST", "/topics", {"title": title, "subject": "Renal"}, 201)
    created = alex_api.call(
        "POST",
        f"/partnerships/{partnership_id}/sessions",
        {"turns": 4, "teach_seconds": TEACH_SECONDS, "rate_seconds": RATE_SECONDS},
        status=201,
    )
    session_id = created["id"]
    assert [t["teacher_id"] for t in created["plan"]] == [
        alex_id,
        blake_id,
        alex_id,
        blake_id,
    ]
    room_url = f"{base}/sessions/{session_id}/room"

    alex, alex_watch = new_person(new_context, NEW_YORK, viewport=PHONE)
    blake, blake_watch = new_person(new_context, LONDON)
    for page in (alex, blake):
        page.add_init_script(PANEL_PROBE)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")

    # Alex prepares turn 1's topic on the session page.
    alex.goto(f"{base}/sessions/{session_id}")
    alex.get_by_label("Topic you will teach").fill(PREPARED)
    alex.get_by_role("button", name="Save topic").click()
    expect(alex.locator(".flash-success")).to_have_text(
        "Saved: you will teach that, from memory."
    )

    # --- Turn 1: Alex teaches the prepared topic; Blake signals. ------------
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    expect(alex.locator("#phase-label")).to_have_text(
        f"Turn 1 of 4 — you teach: {PREPARED}"
    )
    expect(blake.locator("#phase-label")).to_have_text(
        f"Turn 1 of 4 — Alex teaches: {PREPARED}"
    )
    expect_only_visible(alex, "teacher-view")
    expect_only_visible(blake, "listener-view")
    expect(alex.locator("#topic-form")).to_be_hidden()  # named, and teaching
    expect(blake.locator("#topic-label")).to_have_text(
        "Turn 2 is yours — what will you teach?"
    )
    expect(blake.locator("#sent-count")).to_have_text("")
    blake.get_by_label("Jargon word (optional)").fill("angiotensinogen")
    blake.get_by_role("button", name="Jargon!").click()
    blake.get_by_role("button", name="You lost me").click()
    expect(blake.locator("#sent-count")).to_have_text("Sent: 2 signals this turn.")
    expect(alex.locator("#signal-feed li")).to_have_count(2)

    alex.get_by_role("button", name="I’m done explaining").click()
    for page in (alex, blake):
        expect(page.locator("#phase-label")).to_have_text(pause_label(1, PREPARED))
    expect_only_visible(alex, "reflect-view")
    expect_only_visible(blake, "rate-form")
    # (c) Alex is asked for turn 3's topic at once: an empty box, never turn
    # 1's topic again.
    expect(alex.locator("#topic-label")).to_have_text(
        "Turn 3 is yours — what will you teach?"
    )
    expect(alex.locator("#topic-input")).to_have_value("")
    expect(blake.get_by_label("Jargon words (comma separated)")).to_have_value(
        "angiotensinogen"
    )

    # Blake rates 2 first: the pause goes on while Alex reflects (a).
    blake.locator("#rate-form").get_by_label("2 Hard to follow").check()
    blake.get_by_role("button", name="Send rating").click()
    expect(blake.locator("#waiting-line")).to_have_text(
        waiting("Alex is writing a summary — the next turn starts when that is done")
    )
    expect_only_visible(blake)
    expect(alex.locator("#their-rating")).to_have_text(
        "Blake has rated this turn — rate yourself to see it."
    )
    expect(alex.locator("#waiting-line")).to_have_text(
        waiting("You are writing a summary — the next turn starts when that is done")
    )
    expect(alex.locator("#phase-label")).to_have_text(pause_label(1, PREPARED))
    expect_only_visible(alex, "reflect-view")
    expect(alex.get_by_role("heading", name="You are listening")).to_be_hidden()
    shoot(alex, artifacts_dir, "01-phone-alex-reflects-while-blake-waits")
    shoot(blake, artifacts_dir, "01-desktop-blake-rated-waits-for-alex")
    no_sideways_scroll(alex)

    # Alex rates themselves 4 (counts as ready): turn 2 starts.
    alex.locator("#self-rate-form").get_by_label("4 Clear", exact=True).check()
    alex.get_by_role("button", name="Rate myself").click()

    # --- Turn 2: Blake teaches; Alex listens and names turn 3's topic. ------
    expect(alex.locator("#phase-label")).to_have_text("Turn 2 of 4 — Blake teaches")
    expect(blake.locator("#phase-label")).to_have_text("Turn 2 of 4 — you teach")
    expect_only_visible(alex, "listener-view")
    expect_only_visible(blake, "teacher-view")
    expect(alex.locator("#sent-count")).to_have_text("")
    expect(blake.locator("#signal-feed li")).to_have_count(0)
    expect(alex.locator("#topic-label")).to_have_text(
        "Turn 3 is yours — what will you teach?"
    )
    expect(alex.locator("#topic-input")).to_have_value("")
    shoot(alex, artifacts_dir, "02-phone-alex-listens-asked-for-turn-3")
    no_sideways_scroll(alex)

    ask = "Turn 2 is yours — what will you teach?"
    expect(blake.locator("#topic-label")).to_have_text(ask)
    blake.get_by_label(ask).fill(TURN_2_TOPIC)
    blake.get_by_role("button", name="Set topic").click()
    expect(alex.locator("#phase-label")).to_have_text(
        f"Turn 2 of 4 — Blake teaches: {TURN_2_TOPIC}"
    )

    # Alex reloads the phone page: the same state, and the topic box now
    # offers turn 1's topic to teach again (rated 2), then Alex's own topics.
    alex_watch.open_live(alex, room_url)
    expect(alex.locator("#phase-label")).to_have_text(
        f"Turn 2 of 4 — Blake teaches: {TURN_2_TOPIC}"
    )
    expect_only_visible(alex, "listener-view")
    options = alex.locator("#room-topics option")
    expect(options).to_have_count(3)
    assert options.evaluate_all(
        "os => os.map(o => [o.value, o.getAttribute('label')])"
    ) == [
        [PREPARED, "teach again"],
        ["Countercurrent multiplier", None],
        ["Loop of Henle", None],
    ]
    ask = "Turn 3 is yours — what will you teach?"
    expect(alex.locator("#topic-label")).to_have_text(ask)
    expect(alex.get_by_label(ask)).to_have_value("")

    # Picking from the datalist puts the option's value in the box.
    alex.get_by_label(ask).fill(options.nth(2).get_attribute("value"))
    alex.get_by_role("button", name="Set topic").click()
    change = "Turn 3 is yours — change the topic until it starts"
    expect(alex.locator("#topic-label")).to_have_text(change)
    expect(alex.get_by_label(change)).to_have_value("Loop of Henle")
    expect(blake.locator("#turns-list li").nth(2)).to_have_text("Alex — Loop of Henle")
    shoot(alex, artifacts_dir, "03-phone-alex-named-turn-3")
    # ... and changes it (the datalist's other topic) while turn 2 goes on.
    alex.get_by_label(change).fill(options.nth(1).get_attribute("value"))
    alex.get_by_role("button", name="Set topic").click()
    expect(blake.locator("#turns-list li").nth(2)).to_have_text(
        "Alex — Countercurrent multiplier"
    )
    expect(alex.locator("#turns-list li").nth(2)).to_have_text(
        "You — Countercurrent multiplier"
    )

    # Alex signals (the words flagged this page's life are offered when rating).
    expect(alex.locator("#sent-count")).to_have_text("")
    alex.get_by_label("Jargon word (optional)").fill("preload")
    alex.get_by_label("Jargon word (optional)").press("Enter")
    alex.get_by_role("button", name="Slower").click()
    alex.get_by_role("button", name="Clear!").click()
    expect(alex.locator("#sent-count")).to_have_text("Sent: 3 signals this turn.")

    blake.get_by_role("button", name="I’m done explaining").click()
    for page in (alex, blake):
        expect(page.locator("#phase-label")).to_have_text(pause_label(2, TURN_2_TOPIC))
    expect(alex.locator("#turn-line")).to_have_text(
        "Next: You teach Countercurrent multiplier."
    )
    expect(blake.locator("#turn-line")).to_have_text(
        "Next: Alex teaches Countercurrent multiplier."
    )
    expect_only_visible(alex, "rate-form")
    expect_only_visible(blake, "reflect-view")
    expect(alex.locator("#rate-form input:checked")).to_have_count(0)
    expect(alex.get_by_label("Jargon words (comma separated)")).to_have_value("preload")
    # Still Alex's to change until turn 3 starts.
    expect(alex.locator("#topic-label")).to_have_text(change)
    expect(blake.locator("#self-rate-form input:checked")).to_have_count(0)
    # Blake is asked for turn 4's topic: an empty box, not turn 2's.
    expect(blake.locator("#topic-label")).to_have_text(
        "Turn 4 is yours — what will you teach?"
    )
    expect(blake.locator("#topic-input")).to_have_value("")
    shoot(alex, artifacts_dir, "04-phone-alex-rates-turn-2")
    no_sideways_scroll(alex)

    # Blake types a summary and says ready without saving it: "ready" sends
    # it first. The pause waits for Alex's rating.
    blake.get_by_label("Now write it in two or three plain sentences").fill(SUMMARY_2)
    blake.get_by_role("button", name="I’m ready — next turn").click()
    expect_only_visible(blake)
    expect(blake.locator("#waiting-line")).to_have_text(
        waiting("Alex is rating — the next turn starts when that is done")
    )
    expect(alex.locator("#waiting-line")).to_have_text(
        waiting("You are rating — the next turn starts when that is done")
    )
    alex.locator("#rate-form").get_by_label("4 Clear", exact=True).check()
    alex.get_by_role("button", name="Send rating").click()

    # --- Turn 3: Alex teaches the topic named in turn 2. --------------------
    expect(alex.locator("#phase-label")).to_have_text(
        "Turn 3 of 4 — you teach: Countercurrent multiplier"
    )
    expect(blake.locator("#phase-label")).to_have_text(
        "Turn 3 of 4 — Alex teaches: Countercurrent multiplier"
    )
    expect_only_visible(alex, "teacher-view")
    expect_only_visible(blake, "listener-view")
    expect(alex.locator("#topic-form")).to_be_hidden()
    # (b) Blake's "Sent" line of turn 1 is gone; the feed and tally are new.
    expect(blake.locator("#sent-count")).to_have_text("")
    expect(alex.locator("#signal-feed li")).to_have_count(0)
    shoot(blake, artifacts_dir, "05-desktop-blake-listens-turn-3")
    blake.get_by_label("Jargon word (optional)").fill("countercurrent")
    blake.get_by_role("button", name="Jargon!").click()
    expect(blake.locator("#sent-count")).to_have_text("Sent: 1 signal this turn.")
    expect(alex.locator("#signal-feed li")).to_have_text(["Jargon: “countercurrent”"])

    alex.get_by_role("button", name="I’m done explaining").click()
    topic_3 = "Countercurrent multiplier"
    for page in (alex, blake):
        expect(page.locator("#phase-label")).to_have_text(pause_label(3, topic_3))
    # (b) Turn 3's self-rating starts with nothing chosen (turn 1's was 4),
    # the summary box empty; Blake's rating form too (turn 1's was 2).
    expect_only_visible(alex, "reflect-view")
    expect(alex.locator("#self-rate-form")).to_be_visible()
    expect(alex.locator("#self-rate-form input:checked")).to_have_count(0)
    expect(alex.locator("#summary-form")).to_be_visible()
    expect(alex.locator("#summary-text")).to_have_value("")
    expect(alex.locator("#their-rating")).to_be_hidden()
    expect_only_visible(blake, "rate-form")
    expect(blake.locator("#rate-form input:checked")).to_have_count(0)
    expect(blake.get_by_label("Where did you get lost? (optional)")).to_have_value("")
    expect(blake.get_by_label("Jargon words (comma separated)")).to_have_value(
        "countercurrent"
    )
    expect(alex.locator("#topic-form")).to_be_hidden()  # no turn left to Alex
    shoot(alex, artifacts_dir, "06-phone-alex-reflects-turn-3-fresh")
    no_sideways_scroll(alex)

    # Alex writes a summary and is ready first; the pause waits for Blake.
    alex.get_by_label("Now write it in two or three plain sentences").fill(SUMMARY_3)
    alex.get_by_role("button", name="Save summary").click()
    expect(alex.locator("#summary-form")).to_be_hidden()
    alex.get_by_role("button", name="I’m ready — next turn").click()
    expect_only_visible(alex)
    expect(alex.locator("#waiting-line")).to_have_text(
        waiting("Blake is rating — the next turn starts when that is done")
    )
    expect(alex.locator("#phase-label")).to_have_text(pause_label(3, topic_3))
    shoot(alex, artifacts_dir, "07-phone-alex-ready-waits-for-blake")
    blake.locator("#rate-form").get_by_label("5 A 12-year-old would get it").check()
    blake.get_by_role("button", name="Send rating").click()

    # --- Turn 4: Blake is asked for a topic afresh (not turn 2's). ----------
    expect(alex.locator("#phase-label")).to_have_text("Turn 4 of 4 — Blake teaches")
    expect(blake.locator("#phase-label")).to_have_text("Turn 4 of 4 — you teach")
    ask = "Turn 4 is yours — what will you teach?"
    expect(blake.locator("#topic-label")).to_have_text(ask)
    expect(blake.get_by_label(ask)).to_have_value("")
    expect_only_visible(alex, "listener-view")
    expect(alex.locator("#sent-count")).to_have_text("")
    expect(blake.locator("#turns-list li").nth(2)).to_have_text(
        f"Alex — {topic_3} · 5/5"
    )
    blake.get_by_label(ask).fill(TURN_4_TOPIC)
    blake.get_by_role("button", name="Set topic").click()
    expect(blake.locator("#topic-form")).to_be_hidden()
    expect(alex.locator("#phase-label")).to_have_text(
        f"Turn 4 of 4 — Blake teaches: {TURN_4_TOPIC}"
    )
    blake.get_by_role("button", name="I’m done explaining").click()
    for page in (alex, blake):
        expect(page.locator("#phase-label")).to_have_text(pause_label(4, TURN_4_TOPIC))
        expect(page.locator("#turn-line")).to_have_text("")  # no next turn
    expect_only_visible(alex, "rate-form")
    expect(alex.locator("#rate-form input:checked")).to_have_count(0)
    expect(alex.get_by_label("Jargon words (comma separated)")).to_have_value("")
    alex.locator("#rate-form").get_by_label("3 Got most of it").check()
    alex.get_by_role("button", name="Send rating").click()
    expect(alex.locator("#waiting-line")).to_have_text(
        waiting("Blake is writing a summary — the session ends when that is done")
    )
    expect_only_visible(alex)
    shoot(alex, artifacts_dir, "08-phone-alex-rated-last-turn-waits")
    blake.get_by_role("button", name="I’m ready — end the session").click()

    # --- (d) The end screen, also after a reload. ---------------------------
    def expect_end_screen(page: Page) -> None:
        expect(page.locator("#phase-label")).to_have_text("Session complete.")
        expect(page.locator("#countdown")).to_have_text("✓")
        expect_only_visible(page, "done-view")
        expect(
            page.locator("#done-view").get_by_role("link", name="session summary")
        ).to_have_attribute("href", f"/sessions/{session_id}/summary")
        for form in ("topic-form", "rate-form", "reflect-view", "waiting-line"):
            expect(page.locator(f"#{form}")).to_be_hidden()
        expect(page.locator("#room form:visible")).to_have_count(0)
        expect(
            page.locator("#room textarea:visible, #room input:visible")
        ).to_have_count(0)
        expect(page.locator("#turns-list li.done")).to_have_count(4)
        # Every figure shows: a teacher who said "ready" without rating
        # themselves sees the partner's rating too (nothing left to hide it for).
        expect(page.locator("#turns-list li.done", has_text="/5")).to_have_count(4)

    for page in (alex, blake):
        expect_end_screen(page)
    shoot(alex, artifacts_dir, "09-phone-alex-session-complete")
    shoot(blake, artifacts_dir, "09-desktop-blake-session-complete")
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    for page in (alex, blake):
        expect_end_screen(page)
    shoot(alex, artifacts_dir, "10-phone-alex-session-complete-reloaded")
    shoot(blake, artifacts_dir, "10-desktop-blake-session-complete-reloaded")
    no_sideways_scroll(alex)

    # What the pages did was stored: topics, ratings, self-ratings, summaries.
    stored = alex_api.call("GET", f"/sessions/{session_id}")
    assert [(t["topic"], t["simplicity"], t["summary"]) for t in stored["turns"]] == [
        (PREPARED, 2, None),
        (TURN_2_TOPIC, 4, SUMMARY_2),
        (topic_3, 5, SUMMARY_3),
        (TURN_4_TOPIC, 3, None),
    ]

    # (a) Never two role panels at once, on either page, through the session
    # and its reloads; Alex's phone went from reflecting to listening only
    # when turn 2 had started.
    for page in (alex, blake):
        history = panel_history(page)
        both = [h for h in history if len(h["shown"]) > 1]
        assert not both, both
    history = panel_history(alex)
    shown = [(h["shown"], h["label"]) for h in history if h["shown"]]
    reflect_1 = shown.index((["reflect-view"], pause_label(1, PREPARED)))
    listen_2 = next(
        i for i, (panels, _) in enumerate(shown) if panels == ["listener-view"]
    )
    assert reflect_1 < listen_2, shown
    assert shown[listen_2][1].startswith("Turn 2 of 4"), shown

    assert alex_watch.problems == [], alex_watch.problems
    assert blake_watch.problems == [], blake_watch.problems
