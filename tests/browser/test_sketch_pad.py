"""The sketch pad ("Draw it from memory", DESIGN.md §11) in the room.

Alex and Blake run an extra 2-turn session (Alex teaches turn 1, Blake turn
2); phases are long, so every step is a click and no deadline passes.

- Desktop: Alex draws with the mouse (two strokes, the second red); Blake's
  read-only pad shows them live, says so in words, and again after a reload
  (drawn from the turn's stored strokes); Alex clears and both pads are white.
- Phone (390 px wide, touch): Alex draws with touch pointer events and with a
  real touch drag (which must not scroll the page: `touch-action: none`); no
  sideways scroll; Blake sees it. Blake has no tools, his mouse leaves no ink,
  and a forged `sketch` emit with his API token is `forbidden`. After the
  session the summary page and Alex's "My explanations" draw it as SVG.

Every check waits for a state (the pad's words, then its pixels), never for
time. Screenshots go to ``tests/artifacts/<test name>/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from playwright.sync_api import Page, expect

from tests.browser.test_dashboard_live import (
    LONDON,
    NEW_YORK,
    PHONE,
    Api,
    Watch,
    log_in,
    new_person,
    no_sideways_scroll,
    pair_up,
)
from tests.support.room_page import EXPECT_TIMEOUT_MS, expect_only_visible, shoot

TEACH_SECONDS = 300
RATE_SECONDS = 180
EVENINGS = {"start": "18:00", "end": "21:00", "weekdays": None}

# Pixels on the pad that are not white, and those that are the palette's red.
INK = """(canvas) => {
  // Read through a copy, so the page's own canvas is never read back.
  const side = canvas.width;
  const copy = document.createElement("canvas");
  copy.width = copy.height = side;
  const reader = copy.getContext("2d", { willReadFrequently: true });
  reader.drawImage(canvas, 0, 0);
  const { data } = reader.getImageData(0, 0, side, side);
  let ink = 0;
  let red = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200) {
      ink += 1;
      if (data[i] > 140 && data[i + 1] < 90 && data[i + 2] < 90) red += 1;
    }
  }
  return { ink, red, side: canvas.width, shown: canvas.getBoundingClientRect().width };
}"""

# Pointer events as a finger (or a pen) makes them, dispatched on the canvas.
POINTER_STROKE = """(canvas, args) => {
  const box = canvas.getBoundingClientRect();
  const at = ([x, y]) => ({
    clientX: box.left + (x / 1000) * box.width,
    clientY: box.top + (y / 1000) * box.height,
  });
  const base = {
    pointerId: args.id, pointerType: args.type || "touch", isPrimary: true,
    bubbles: true, cancelable: true, composed: true,
  };
  const down = args.buttons || 1;
  const fire = (type, point, button, buttons) => canvas.dispatchEvent(
    new PointerEvent(type, { ...base, ...at(point), button, buttons }),
  );
  fire("pointerdown", args.path[0], args.button || 0, down);
  for (const point of args.path.slice(1)) fire("pointermove", point, -1, down);
  fire("pointerup", args.path[args.path.length - 1], args.button || 0, 0);
}"""


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=None)


def ink(page: Page) -> dict:
    return page.locator("#sketch-canvas").evaluate(INK)


def until(
    check: Callable[[], Any], what: str, timeout: float = 10, show: Any = None
) -> Any:
    """Poll `check` until it gives something true (a state, never a fixed
    pause); return it, or fail saying what was awaited (and `show()`)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = check()
        if seen:
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: {show() if show else ''}")
        time.sleep(0.05)


def same_picture(teacher: Page, listener: Page) -> tuple[dict, dict]:
    """Wait until the listener's pad shows what the teacher's does (the last
    message of a stroke may still be on its way); return both counts."""
    last: list[tuple[dict, dict]] = []

    def both() -> tuple[dict, dict] | None:
        drawn, seen = ink(teacher), ink(listener)
        last.append((drawn, seen))
        close = abs(seen["ink"] - drawn["ink"]) <= 0.02 * max(drawn["ink"], 50)
        return (drawn, seen) if close and drawn["side"] == seen["side"] else None

    return until(
        both, "the listener's pad to show the teacher's drawing", show=lambda: last[-1]
    )


def settled_ink(page: Page) -> float:
    """The pad's ink once two reads in a row agree (no message still landing)."""
    reads: list[float] = []

    def steady() -> float | None:
        reads.append(ink(page)["ink"])
        return (
            reads[-1]
            if len(reads) > 2 and reads[-1] == reads[-2] == reads[-3]
            else None
        )

    return until(steady, "the pad to stop changing", show=lambda: reads[-3:])


def line(points: int, y: float, x0: float = 150, x1: float = 850) -> list[list[float]]:
    """A horizontal stroke in pad units."""
    step = (x1 - x0) / (points - 1)
    return [[x0 + i * step, y] for i in range(points)]


def draw_with_mouse(page: Page, path: list[list[float]]) -> None:
    canvas = page.locator("#sketch-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x / 1000 * box["width"], box["y"] + y / 1000 * box["height"]

    page.mouse.move(*at(*path[0]))
    page.mouse.down()
    for point in path[1:]:
        page.mouse.move(*at(*point), steps=3)
    page.mouse.up()


def drag_with_finger(page: Page, path: list[list[float]]) -> None:
    """A real touch drag (Chrome's touch input), as a phone sends it."""
    canvas = page.locator("#sketch-canvas")
    box = canvas.bounding_box()
    assert box is not None
    cdp = page.context.new_cdp_session(page)

    def at(x: float, y: float) -> dict:
        return {
            "x": box["x"] + x / 1000 * box["width"],
            "y": box["y"] + y / 1000 * box["height"],
        }

    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": "touchStart", "touchPoints": [at(*path[0])]},
    )
    for point in path[1:]:
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchMove", "touchPoints": [at(*point)]},
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def start_session(base: str) -> tuple[Api, Api, int, int]:
    """Alex and Blake paired; an extra 2-turn session (Alex teaches first)."""
    alex_api, blake_api, blake_id, partnership_id = pair_up(base, EVENINGS, EVENINGS)
    created = alex_api.call(
        "POST",
        f"/partnerships/{partnership_id}/sessions",
        {"turns": 2, "teach_seconds": TEACH_SECONDS, "rate_seconds": RATE_SECONDS},
        status=201,
    )
    alex_id = alex_api.call("GET", "/me")["id"]
    assert [t["teacher_id"] for t in created["plan"]] == [alex_id, blake_id]
    return alex_api, blake_api, created["id"], alex_id


def test_teacher_draws_with_the_mouse_listener_sees_it_live_and_clear_clears_both(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = make_live_server(ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1")
    base = server.url
    _alex_api, blake_api, session_id, _ = start_session(base)
    room_url = f"{base}/sessions/{session_id}/room"
    alex, alex_watch = new_person(new_context, NEW_YORK)
    blake, blake_watch = new_person(new_context, LONDON)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    expect(alex.locator("#phase-label")).to_have_text("Turn 1 of 2 — you teach")
    expect_only_visible(alex, "teacher-view")
    expect_only_visible(blake, "listener-view")

    # Both see the pad; only the teacher has tools.
    expect(alex.get_by_role("heading", name="Draw it from memory")).to_be_visible()
    expect(blake.get_by_role("heading", name="Alex’s sketch")).to_be_visible()
    expect(alex.get_by_role("button", name="Pen")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(blake.locator("#sketch-tools")).to_be_hidden()
    expect(alex.locator("#sketch-status")).to_have_text("Nothing drawn yet.")
    expect(blake.locator("#sketch-status")).to_have_text(
        "Alex has not drawn anything yet."
    )
    assert ink(blake)["ink"] == 0

    # Alex draws a black stroke, then picks red and a thick line for another.
    draw_with_mouse(alex, line(30, 300))
    alex.get_by_role("button", name="Red").click()
    alex.get_by_role("button", name="Thick line").click()
    expect(alex.get_by_role("button", name="Red")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(alex.get_by_role("button", name="Black")).to_have_attribute(
        "aria-pressed", "false"
    )
    draw_with_mouse(alex, [[500, 150], [500, 400], [700, 700], [300, 850]])
    expect(alex.locator("#sketch-status")).to_have_text("You have drawn 2 strokes.")
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 2 strokes.")
    expect(blake.locator("#sketch-canvas")).to_have_attribute(
        "aria-label", "Sketch pad. Alex is drawing: 2 strokes."
    )
    # The same picture on both (both pads are the same size here).
    drawn, seen = same_picture(alex, blake)
    assert seen["ink"] > 0.004 * seen["side"] ** 2, seen
    assert abs(seen["red"] - drawn["red"]) <= 0.02 * drawn["red"], (seen, drawn)
    assert seen["red"] > 0.001 * seen["side"] ** 2, seen
    shoot(alex, artifacts_dir, "01-desktop-alex-draws")
    shoot(blake, artifacts_dir, "02-desktop-blake-sees-it")

    # Stored with the turn, in the pad's square.
    stored = blake_api.call("GET", f"/sessions/{session_id}/turns/0/sketch")["strokes"]
    assert stored, stored
    assert {s["color"] for s in stored} == {"#1f2937", "#b3261e"}
    assert all(0 <= c <= 1000 for s in stored for p in s["points"] for c in p)

    # Blake reloads: the pad is drawn again from what is stored.
    blake_watch.open_live(blake, room_url)
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 2 strokes.")
    again = ink(blake)
    assert abs(again["ink"] - seen["ink"]) < 0.1 * seen["ink"], (again, seen)

    # The eraser draws white over the black line.
    alex.get_by_role("button", name="Eraser").click()
    expect(alex.get_by_role("button", name="Eraser")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(alex.get_by_role("button", name="Pen")).to_have_attribute(
        "aria-pressed", "false"
    )
    draw_with_mouse(alex, line(10, 300, 100, 480))
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 3 strokes.")
    _, erased = same_picture(alex, blake)
    assert erased["ink"] < seen["ink"] - 0.001 * seen["side"] ** 2, (erased, seen)

    # A pen's eraser end erases, whatever tool is chosen.
    alex.get_by_role("button", name="Pen").click()
    alex.locator("#sketch-canvas").evaluate(
        POINTER_STROKE,
        {"id": 5, "type": "pen", "button": 5, "buttons": 32, "path": line(10, 850)},
    )
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 4 strokes.")
    path = f"/sessions/{session_id}/turns/0/sketch"
    last = until(
        lambda: [
            s
            for s in blake_api.call("GET", path)["strokes"]
            if s["points"][-1] == [850, 850]
        ],
        "the pen's eraser stroke to be stored",
    )
    assert last[0]["color"] == "#ffffff", last

    # Clear: both pads are white again.
    alex.get_by_role("button", name="Clear the pad").click()
    expect(alex.locator("#sketch-status")).to_have_text("Nothing drawn yet.")
    expect(blake.locator("#sketch-status")).to_have_text(
        "Alex has not drawn anything yet."
    )
    assert ink(alex)["ink"] == 0
    assert ink(blake)["ink"] == 0
    assert (
        blake_api.call("GET", f"/sessions/{session_id}/turns/0/sketch")["strokes"] == []
    )

    # A last stroke, then the turn ends: the pause shows it to both, read-only.
    alex.get_by_role("button", name="Blue").click()
    draw_with_mouse(alex, line(20, 500))
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 1 stroke.")
    alex.get_by_role("button", name="I’m done explaining").click()
    expect(alex.get_by_role("heading", name="Your sketch")).to_be_visible()
    expect(blake.get_by_role("heading", name="Alex’s sketch")).to_be_visible()
    expect(alex.locator("#sketch-tools")).to_be_hidden()
    expect(alex.locator("#sketch-status")).to_have_text("Your sketch: 1 stroke.")
    assert ink(alex)["ink"] > 0
    shoot(alex, artifacts_dir, "03-desktop-alex-pause-shows-sketch")
    for watch in (alex_watch, blake_watch):
        assert watch.problems == [], watch.problems


def test_phone_touch_drawing_listener_cannot_draw_and_the_summary_shows_the_sketch(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = make_live_server(ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1")
    base = server.url
    alex_api, blake_api, session_id, _ = start_session(base)
    room_url = f"{base}/sessions/{session_id}/room"
    alex, alex_watch = new_person(new_context, NEW_YORK, viewport=PHONE, has_touch=True)
    blake, blake_watch = new_person(new_context, LONDON)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    expect(alex.locator("#phase-label")).to_have_text("Turn 1 of 2 — you teach")
    expect(alex.get_by_role("heading", name="Draw it from memory")).to_be_visible()

    # The pad is square and fits the phone's column.
    canvas = alex.locator("#sketch-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    assert abs(box["width"] - box["height"]) < 1.5, box
    assert 250 < box["width"] <= 390 - 16, box
    expect(canvas).to_have_css("touch-action", "none")
    no_sideways_scroll(alex)

    # Touch pointer events on the canvas draw a stroke (once the pad is ready)...
    expect(alex.locator("#sketch-status")).to_have_text("Nothing drawn yet.")
    canvas.evaluate(POINTER_STROKE, {"id": 11, "path": line(40, 250)})
    expect(alex.locator("#sketch-status")).to_have_text("You have drawn 1 stroke.")
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 1 stroke.")
    # ... and so does a real finger drag, which must not scroll the page.
    scrolled = alex.evaluate("window.scrollY")
    drag_with_finger(alex, [[200, 400], [250, 500], [300, 600], [350, 700], [400, 800]])
    expect(alex.locator("#sketch-status")).to_have_text("You have drawn 2 strokes.")
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 2 strokes.")
    assert alex.evaluate("window.scrollY") == scrolled
    assert ink(blake)["ink"] > 0
    assert ink(alex)["ink"] > 0
    no_sideways_scroll(alex)
    shoot(alex, artifacts_dir, "01-phone-alex-draws-with-touch")
    shoot(blake, artifacts_dir, "02-desktop-blake-sees-the-touch-strokes")

    # The listener cannot draw: no tools, and his mouse leaves no ink.
    expect(blake.locator("#sketch-tools")).to_be_hidden()
    expect(blake.get_by_role("button", name="Clear the pad")).to_be_hidden()
    before = ink(blake)["ink"]
    draw_with_mouse(blake, line(20, 900))
    assert ink(blake)["ink"] == before
    expect(alex.locator("#sketch-status")).to_have_text("You have drawn 2 strokes.")
    # A forged `sketch` from his API token is refused, and nothing is stored.
    token = blake_api.http.headers["Authorization"].removeprefix("Bearer ")
    forger = socketio.Client(reconnection=False)
    forger.connect(
        base, auth={"token": token}, transports=["websocket"], wait_timeout=10
    )
    try:
        ack = forger.call(
            "sketch",
            {
                "session_id": session_id,
                "turn": 0,
                "strokes": [{"points": [[1, 1], [999, 999]]}],
            },
            timeout=10,
        )
    finally:
        forger.disconnect()
    assert ack["ok"] is False and ack["error"] == "forbidden", ack
    stored = alex_api.call("GET", f"/sessions/{session_id}/turns/0/sketch")["strokes"]
    assert [999, 999] not in [p for s in stored for p in s["points"]]

    # The session to its end: turn 1 rated, turn 2 taught by Blake (no sketch).
    alex.get_by_role("button", name="I’m done explaining").click()
    blake.locator("#rate-form").get_by_label("4 Clear", exact=True).check()
    blake.get_by_role("button", name="Send rating").click()
    alex.get_by_role("button", name="I’m ready — next turn").click()
    expect(blake.locator("#phase-label")).to_have_text("Turn 2 of 2 — you teach")
    expect(blake.get_by_role("heading", name="Draw it from memory")).to_be_visible()
    expect(alex.get_by_role("heading", name="Blake’s sketch")).to_be_visible()
    # Turn 2's pad starts empty on both.
    expect(alex.locator("#sketch-status")).to_have_text(
        "Blake has not drawn anything yet."
    )
    assert ink(alex)["ink"] == 0
    blake.get_by_role("button", name="I’m done explaining").click()
    alex.locator("#rate-form").get_by_label("3 Got most of it").check()
    alex.get_by_role("button", name="Send rating").click()
    expect(alex.locator("#sketch")).to_be_hidden()  # nothing drawn in turn 2
    blake.get_by_role("button", name="I’m ready — end the session").click()
    expect(alex.locator("#done-view")).to_be_visible()
    expect(alex.locator("#sketch")).to_be_hidden()

    # The summary draws turn 1's sketch as SVG; turn 2 has none.
    alex.goto(f"{base}/sessions/{session_id}/summary")
    turn_1 = alex.locator("#turn-0")
    svg = turn_1.get_by_role("img", name="Your sketch of turn 1")
    expect(svg).to_be_visible()
    expect(svg.locator("polyline")).to_have_count(len(stored))
    assert svg.get_attribute("viewBox") == "0 0 1000 1000"
    first = svg.locator("polyline").first
    assert first.get_attribute("stroke-linecap") == "round"
    assert first.get_attribute("stroke-linejoin") == "round"
    expect(alex.locator("#turn-1 svg")).to_have_count(0)
    no_sideways_scroll(alex)
    svg.scroll_into_view_if_needed()
    shoot(alex, artifacts_dir, "03-phone-summary-with-sketch")

    blake.goto(f"{base}/sessions/{session_id}/summary")
    expect(blake.get_by_role("img", name="Alex’s sketch of turn 1")).to_be_visible()

    # Alex's "My explanations" draws it too.
    alex.goto(f"{base}/review/explanations")
    expect(alex.locator("article.explanation svg polyline")).to_have_count(len(stored))
    no_sideways_scroll(alex)
    shoot(alex, artifacts_dir, "04-phone-my-explanations-with-sketch")
    for watch in (alex_watch, blake_watch):
        assert watch.problems == [], watch.problems


def scribble(n: int, corner: float) -> list[list[float]]:
    """`n` points zigzagging in a small square near (corner, corner)."""
    return [[corner + (i % 20), corner + (i % 7)] for i in range(n)]


def test_a_full_pad_says_so_and_stores_no_more_than_the_turn_allows(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = make_live_server(ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1")
    base = server.url
    alex_api, blake_api, session_id, _ = start_session(base)
    room_url = f"{base}/sessions/{session_id}/room"
    alex, alex_watch = new_person(new_context, NEW_YORK)
    blake, blake_watch = new_person(new_context, LONDON)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    expect(alex.locator("#sketch-status")).to_have_text("Nothing drawn yet.")

    # Alex's other device fills the turn to 10 points short of 20,000.
    token = alex_api.http.headers["Authorization"].removeprefix("Bearer ")
    other = socketio.Client(reconnection=False)
    other.connect(
        base, auth={"token": token}, transports=["websocket"], wait_timeout=10
    )
    try:
        for i in range(40):
            points = scribble(490 if i == 39 else 500, 20 + i * 10)
            ack = other.call(
                "sketch",
                {"session_id": session_id, "turn": 0, "strokes": [{"points": points}]},
                timeout=10,
            )
            assert ack["ok"] is True, (i, ack)
        assert ack["points"] == 19_990
        # The server refuses what would go over.
        ack = other.call(
            "sketch",
            {
                "session_id": session_id,
                "turn": 0,
                "strokes": [{"points": scribble(11, 600)}],
            },
            timeout=10,
        )
        assert ack["ok"] is False and ack["error"] == "invalid", ack
    finally:
        other.disconnect()

    # Both pages heard of every stroke; the teacher's counts what is left.
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 40 strokes.")
    expect(alex.locator("#sketch-status")).to_have_text(
        "You have drawn 40 strokes. 10 points left this turn."
    )
    # A long line stops where the turn is full, and the pad says why.
    draw_with_mouse(alex, line(40, 700))
    expect(
        alex.get_by_role("alert").filter(has_text="The sketch is full")
    ).to_have_text(
        "The sketch is full: 20,000 points a turn. Keep explaining in words."
    )
    # The turn is full, or one point short when the last point would have
    # needed the point before it repeated to join a stroke sent in parts;
    # never over. The pad's words say what is left.
    url = f"/sessions/{session_id}/turns/0/sketch"

    def stored_total() -> int:
        strokes = blake_api.call("GET", url)["strokes"]
        return sum(len(s["points"]) for s in strokes)

    total = until(lambda: (n := stored_total()) >= 19_999 and n, "the pad to fill")
    assert total in (19_999, 20_000)
    left = "1 point" if total == 19_999 else "0 points"
    expect(alex.locator("#sketch-status")).to_have_text(
        f"You have drawn 41 strokes. {left} left this turn."
    )
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 41 strokes.")
    assert stored_total() == total
    shoot(alex, artifacts_dir, "01-desktop-alex-pad-full")
    for watch in (alex_watch, blake_watch):
        assert watch.problems == [], watch.problems


def test_a_listener_back_from_a_lost_connection_sees_what_was_drawn_meanwhile(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = make_live_server(ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1")
    base = server.url
    _alex_api, blake_api, session_id, _ = start_session(base)
    room_url = f"{base}/sessions/{session_id}/room"
    alex, alex_watch = new_person(new_context, NEW_YORK)
    blake, blake_watch = new_person(new_context, LONDON, viewport=PHONE)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    expect(alex.locator("#sketch-status")).to_have_text("Nothing drawn yet.")
    draw_with_mouse(alex, line(20, 200))
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 1 stroke.")
    # His finger still scrolls the page over the read-only pad.
    expect(blake.locator("#sketch-canvas")).to_have_css("touch-action", "auto")

    # Blake's network drops; Alex goes on drawing (stored, not relayed to him).
    blake.context.set_offline(True)
    expect(blake.locator("#reconnecting")).to_be_visible()
    alex.get_by_role("button", name="Green").click()
    draw_with_mouse(alex, [[200, 500], [500, 800], [800, 500]])
    expect(alex.locator("#sketch-status")).to_have_text("You have drawn 2 strokes.")
    path = f"/sessions/{session_id}/turns/0/sketch"
    until(
        lambda: any(
            s["color"] == "#1b6e3a" and s["points"][-1] == [800, 500]
            for s in blake_api.call("GET", path)["strokes"]
        ),
        "the green stroke to be stored whole",
    )
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 1 stroke.")

    # Back online: the room re-joins by itself and the pad is drawn afresh.
    blake.context.set_offline(False)
    expect(blake.locator("#reconnecting")).to_be_hidden()
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 2 strokes.")
    seen = ink(blake)
    assert seen["ink"] > 0, seen
    shoot(blake, artifacts_dir, "01-phone-blake-back-online-sees-both-strokes")
    assert alex_watch.problems == [], alex_watch.problems


def test_a_long_fast_stroke_goes_in_messages_of_at_most_500_points_that_join_up(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = make_live_server(ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1")
    base = server.url
    _alex_api, blake_api, session_id, _ = start_session(base)
    room_url = f"{base}/sessions/{session_id}/room"
    alex, alex_watch = new_person(new_context, NEW_YORK)
    blake, blake_watch = new_person(new_context, LONDON)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    expect(alex.locator("#sketch-status")).to_have_text("Nothing drawn yet.")

    # 1,200 points in one go (a pen faster than the sending): a zigzag of rows.
    path = [
        [100 + (i % 400) * 2, 100 + (i // 400) * 300 + (i % 2) * 3] for i in range(1200)
    ]
    alex.locator("#sketch-canvas").evaluate(
        POINTER_STROKE, {"id": 3, "type": "pen", "path": path}
    )
    expect(alex.locator("#sketch-status")).to_have_text("You have drawn 1 stroke.")
    url = f"/sessions/{session_id}/turns/0/sketch"
    stored = until(
        lambda: (
            (s := blake_api.call("GET", url)["strokes"])
            and s[-1]["points"][-1] == path[-1]
            and s
        ),
        "the whole stroke to be stored",
    )
    # Three messages of at most 500 points; the second and third each repeat
    # the point before them, so the parts join up (500 + 499 + 201 = 1,200).
    assert [len(s["points"]) for s in stored] == [500, 500, 202]
    for before, after in zip(stored, stored[1:], strict=False):
        assert after["points"][0] == before["points"][-1]
    assert [
        p for s in stored for p in s["points"][1 if s is not stored[0] else 0 :]
    ] == path
    # The listener counts one stroke, and draws all of it.
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 1 stroke.")
    same_picture(alex, blake)
    shoot(blake, artifacts_dir, "01-desktop-blake-sees-the-long-stroke")
    for watch in (alex_watch, blake_watch):
        assert watch.problems == [], watch.problems


def test_the_teachers_other_tab_shows_the_strokes_and_can_take_the_pen(
    new_context, make_live_server, artifacts_dir: Path
) -> None:
    server = make_live_server(ALLY_MIN_TEACH_SECONDS="1", ALLY_MIN_RATE_SECONDS="1")
    base = server.url
    _alex_api, _blake_api, session_id, _ = start_session(base)
    room_url = f"{base}/sessions/{session_id}/room"
    alex, alex_watch = new_person(new_context, NEW_YORK)
    blake, blake_watch = new_person(new_context, LONDON)
    log_in(alex, base, "alex@example.org", "Alex")
    log_in(blake, base, "blake@example.org", "Blake")
    alex_watch.open_live(alex, room_url)
    blake_watch.open_live(blake, room_url)
    expect(alex.locator("#sketch-tools")).to_be_visible()
    # A second tab of Alex's browser: it shows the pad, read-only.
    other = alex.context.new_page()
    other_watch = Watch()
    other_watch.attach(other)
    other_watch.open_live(other, room_url)
    expect(other.get_by_role("heading", name="Draw it from memory")).to_be_visible()
    expect(other.locator("#sketch-elsewhere")).to_contain_text(
        "You draw in another tab of this browser"
    )
    expect(other.locator("#sketch-tools")).to_be_hidden()
    expect(alex.locator("#sketch-tools")).to_be_visible()

    draw_with_mouse(alex, line(20, 300))
    expect(other.locator("#sketch-status")).to_have_text("You have drawn 1 stroke.")
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 1 stroke.")
    same_picture(alex, other)
    # The stroke's last message may still be on its way (same_picture allows
    # 2 %): the other tab's picture is taken once it has stopped changing.
    before = settled_ink(other)
    draw_with_mouse(other, line(20, 600))
    assert ink(other)["ink"] == before
    shoot(other, artifacts_dir, "01-desktop-alex-other-tab-read-only")

    # The other tab takes the pen; the first one turns read-only.
    other.get_by_role("button", name="Draw here instead").click()
    expect(other.locator("#sketch-tools")).to_be_visible()
    expect(alex.locator("#sketch-tools")).to_be_hidden()
    expect(alex.locator("#sketch-elsewhere")).to_be_visible()
    draw_with_mouse(other, line(20, 600))
    expect(alex.locator("#sketch-status")).to_have_text("You have drawn 2 strokes.")
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 2 strokes.")

    # Closed, it hands the pen back.
    other.close()
    expect(alex.locator("#sketch-tools")).to_be_visible()
    expect(alex.locator("#sketch-elsewhere")).to_be_hidden()
    draw_with_mouse(alex, line(20, 800))
    expect(blake.locator("#sketch-status")).to_have_text("Alex is drawing: 3 strokes.")
    for watch in (alex_watch, blake_watch, other_watch):
        assert watch.problems == [], watch.problems
