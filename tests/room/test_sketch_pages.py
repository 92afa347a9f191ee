"""Stored sketches drawn as SVG (templates/_sketch_svg.html) on the session
summary and in "My explanations": what is left since the turn's last clear,
in order, one polyline per stroke (a dot for a single point), eraser strokes
white, nothing for a turn without strokes and nothing for outsiders.
"""

from __future__ import annotations

import re

from tests.support.room import new_session, ok, start_teaching

BLACK = {"points": [[100, 100], [900, 100], [900.5, 400.3]], "color": "#1f2937"}
RED = {"points": [[500, 500], [600, 700]], "width": 12, "color": "#b3261e"}
ERASER = {"points": [[100, 100], [300, 100]], "width": 30, "color": "#ffffff"}
DOT = {"points": [[50, 950]], "width": 8, "color": "#0b5394"}


def svgs(markup: str) -> list[str]:
    return re.findall(r"<svg class=\"sketch-svg\".*?</svg>", markup, re.S)


def draw(people, session_id: int, *strokes: dict, clear: bool = False) -> None:
    payload = {"session_id": session_id, "turn": 0, "strokes": list(strokes)}
    if clear:
        payload["clear"] = True
    ok(people.ann.emit("sketch", payload))


def test_the_summary_and_my_explanations_draw_what_is_left_after_the_last_clear(
    app, world, people, browser_for
):
    session_id = new_session(world)
    start_teaching(people, session_id)
    draw(people, session_id, RED)
    draw(people, session_id, clear=True)  # RED is gone
    draw(people, session_id, BLACK, ERASER)
    draw(people, session_id, DOT)
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))

    ann, ben = browser_for("ann@example.com"), browser_for("ben@example.com")
    page = ann.client.get(f"/sessions/{session_id}/summary").get_data(as_text=True)
    assert "css/sketch.css" in page
    [svg] = svgs(page)  # turn 1 only: turn 2 has no strokes
    assert 'viewBox="0 0 1000 1000"' in svg
    assert 'aria-label="Your sketch of turn 1"' in svg
    assert '<rect x="0" y="0" width="1000" height="1000" fill="#ffffff"' in svg
    lines = re.findall(r"<polyline [^>]*/>", svg)
    assert len(lines) == 2  # BLACK, then ERASER over it
    assert 'points="100,100 900,100 900.5,400.3"' in lines[0]
    assert 'stroke="#1f2937" stroke-width="4"' in lines[0]  # the default width
    assert 'points="100,100 300,100"' in lines[1]
    assert 'stroke="#ffffff" stroke-width="30"' in lines[1]
    for line in lines:
        assert 'stroke-linecap="round" stroke-linejoin="round"' in line
        assert 'fill="none"' in line
    assert re.search(
        r'<circle cx="50(\.0)?" cy="950(\.0)?" r="4\.0" fill="#0b5394"/>', svg
    )
    assert "#b3261e" not in svg  # cleared
    assert page.index("Turn 1:") < page.index("<svg class") < page.index("Turn 2:")

    # The partner sees it under the teacher's name.
    page = ben.client.get(f"/sessions/{session_id}/summary").get_data(as_text=True)
    [svg] = svgs(page)
    assert 'aria-label="Ann’s sketch of turn 1"' in svg

    # My explanations: Ann's turn with its sketch; Ben taught nothing yet.
    page = ann.client.get("/review/explanations").get_data(as_text=True)
    [svg] = svgs(page)
    assert len(re.findall(r"<polyline ", svg)) == 2
    assert 'aria-label="Your sketch of this explanation"' in svg
    page = ben.client.get("/review/explanations").get_data(as_text=True)
    assert svgs(page) == []

    # An outsider gets nothing of it.
    cara = browser_for("cara@example.com")
    response = cara.client.get(f"/sessions/{session_id}/summary")
    assert response.status_code == 404
    assert "sketch-svg" not in response.get_data(as_text=True)
