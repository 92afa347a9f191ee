"""The room's §11 parts in a browser: the teacher's guess before teaching, and
the listener's "Why?" / "How?" with a question reaching the teacher at once.

Alex (phone, 390 px) teaches turn 1, Blake (desktop) listens. Every wait is
for a state on the page.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_dashboard_live import (
    LONDON,
    NEW_YORK,
    PHONE,
    log_in,
    new_person,
    no_sideways_scroll,
    pair_up,
    shoot,
)


def test_a_guess_before_teaching_and_questions_while_teaching(
    live_server, new_context, artifacts_dir
):
    alex_api, _blake_api, _blake_id, partnership = pair_up(
        live_server.url,
        {"start": "08:00", "end": "12:00"},
        {"start": "13:00", "end": "17:00"},
    )
    session = alex_api.call(
        "POST",
        f"/partnerships/{partnership}/sessions",
        {"turns": 2, "teach_seconds": 300, "rate_seconds": 120},
        status=201,
    )
    room_url = f"{live_server.url}/sessions/{session['id']}/room"
    alex, _ = new_person(new_context, NEW_YORK, viewport=PHONE)
    blake, _ = new_person(new_context, LONDON)
    log_in(alex, live_server.url, "alex@example.org", "Alex")
    log_in(blake, live_server.url, "blake@example.org", "Blake")

    # Alex is first in the room: before turn 1 starts he is asked for a guess.
    alex.goto(room_url)
    guess = alex.locator("#predict-form")
    expect(guess).to_be_visible()
    expect(guess).to_contain_text("how simply can you explain it now?")
    guess.get_by_label("4 Clear").check()
    shoot(alex, artifacts_dir, "phone-guess")
    no_sideways_scroll(alex)
    guess.get_by_role("button", name="Save my guess").click()
    expect(guess).to_be_hidden()

    # Blake arrives: teaching starts; he asks how, then why (key W).
    blake.goto(room_url)
    expect(blake.get_by_role("heading", name="You are listening")).to_be_visible()
    # While he listens he is not asked about his own next turn.
    expect(blake.locator("#predict-form")).to_be_hidden()
    blake.get_by_label("Ask for the cause or the mechanism").fill(
        "How does the kidney sense the pressure?"
    )
    blake.get_by_role("button", name="How?").click()
    feed = alex.get_by_role("list", name="Signals from your partner")
    expect(feed.locator("li").first).to_have_text(
        "How? “How does the kidney sense the pressure?”"
    )
    blake.locator("body").press("w")
    expect(feed.locator("li").first).to_have_text("Why?")
    expect(alex.locator("#tally li[data-kind=why] strong")).to_have_text("1")
    expect(alex.locator("#tally li[data-kind=how] strong")).to_have_text("1")
    expect(blake.locator("#sent-count")).to_have_text("Sent: 2 signals this turn.")
    shoot(alex, artifacts_dir, "phone-questions")

    # The pause: Blake teaches next and is asked for his guess; he skips it.
    alex.get_by_role("button", name="I’m done explaining").click()
    blake_guess = blake.locator("#predict-form")
    expect(blake_guess).to_be_visible()
    expect(blake_guess).to_contain_text("Before you teach turn 2")
    blake_guess.get_by_role("button", name="Skip").click()
    expect(blake_guess).to_be_hidden()
