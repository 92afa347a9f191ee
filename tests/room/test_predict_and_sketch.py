"""`predict`, `sketch` and the `why`/`how` signals with a question (DESIGN §11).

Each refusal changes nothing and pushes nothing (`assert_refused`); what is
accepted is in the database when the ack arrives.
"""

from __future__ import annotations

import pytest

from ally.domain.sketch import MAX_POINTS_PER_MESSAGE, MAX_POINTS_PER_TURN
from ally.models import Signal, Sketch, Turn
from ally.services.room import sketches as room_sketches
from tests.support.room import (
    assert_refused,
    change,
    is_refusal,
    named,
    new_session,
    ok,
    rows,
    start_rating,
    start_teaching,
    stored_signals,
    turn_row,
)

LINE = {"points": [[0, 0], [1000, 1000]], "width": 6, "color": "#0b5394"}


def test_a_prediction_is_kept_once_before_teaching_and_only_said_in_the_snapshot(
    app, world, people
):
    session_id = new_session(world, starts_in=3600)
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    ack = ok(
        people.ann.emit(
            "predict", {"session_id": session_id, "turn": 0, "simplicity": 4}
        )
    )
    assert ack["simplicity"] == 4
    row = turn_row(app, session_id, 0)
    assert (row.predicted_simplicity, row.predicted_at is not None) == (4, True)
    # The same value again is fine (a retry); another is refused.
    ok(
        people.ann.emit(
            "predict", {"session_id": session_id, "turn": 0, "simplicity": 4}
        )
    )
    assert_refused(
        app,
        people.ann,
        "predict",
        ({"session_id": session_id, "turn": 0, "simplicity": 2},),
        "already_rated",
    )
    # Ben predicts his own turn; the snapshot says who predicted, never the value.
    ok(
        people.ben.emit(
            "predict", {"session_id": session_id, "turn": 1, "simplicity": 2}
        )
    )
    state = ok(people.ben.emit("join_session", {"session_id": session_id}))["state"]
    assert [t["predicted"] for t in state["turns"][:2]] == [True, True]
    assert "4" not in str([t.get("predicted") for t in state["turns"]])


def test_a_prediction_after_teaching_started_is_wrong_phase(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    assert_refused(
        app,
        people.ann,
        "predict",
        ({"session_id": session_id, "turn": 0, "simplicity": 3},),
        "wrong_phase",
        (people.ben,),
    )


def test_sketch_strokes_are_stored_relayed_and_read_back(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    for sock in (people.ann, people.ben):
        sock.take()
    ack = ok(
        people.ann.emit(
            "sketch", {"session_id": session_id, "turn": 0, "strokes": [LINE]}
        )
    )
    assert ack["points"] == 2
    relayed = named(people.ben.take(), "sketch")
    assert relayed == [{"session_id": session_id, "turn": 0, "strokes": [LINE]}]
    assert named(people.ann.take(), "sketch") == []  # the sender draws it already
    assert turn_row(app, session_id, 0).sketch_points == 2
    # A clear starts the pad afresh; what a page reads back starts after it.
    ok(
        people.ann.emit(
            "sketch",
            {"session_id": session_id, "turn": 0, "strokes": [], "clear": True},
        )
    )
    dot = {"points": [[500, 500]], "width": 40, "color": "#ffffff"}
    ok(
        people.ann.emit(
            "sketch", {"session_id": session_id, "turn": 0, "strokes": [dot]}
        )
    )
    assert named(people.ben.take(), "sketch")[0]["clear"] is True
    with app.app_context():
        turn_id = turn_row(app, session_id, 0).id
        assert room_sketches.strokes_of([turn_id]) == {
            turn_id: [{"points": [[500, 500]], "width": 40, "color": "#ffffff"}]
        }
    assert len(rows(app, Sketch, Sketch.turn_id == turn_id)) == 3


def test_a_turns_sketch_over_http_for_members_only(app, world, people, browser_for):
    session_id = new_session(world)
    start_teaching(people, session_id)
    ok(
        people.ann.emit(
            "sketch", {"session_id": session_id, "turn": 0, "strokes": [LINE]}
        )
    )
    url = f"/api/v1/sessions/{session_id}/turns/0/sketch"
    body = browser_for("ben@example.com").client.get(url).get_json()
    assert body == {"session_id": session_id, "turn": 0, "strokes": [LINE]}
    assert browser_for("cara@example.com").client.get(url).status_code == 404
    empty = browser_for("ann@example.com").client.get(url.replace("/0/", "/1/"))
    assert empty.get_json()["strokes"] == []


@pytest.mark.parametrize(
    "strokes",
    [
        [{"points": [[-1, 5]]}],
        [{"points": [[5, 1000.5]]}],
        [{"points": [["5", 5]]}],
        [{"points": [[True, 5]]}],
        [{"points": [[5, 5, 5]]}],
        [{"points": []}],
        [{"points": [[5, 5]], "width": 41}],
        [{"points": [[5, 5]], "color": "#123456"}],
        [{"points": [[5, 5]], "opacity": 1}],
        [{"points": [[1, 1]] * (MAX_POINTS_PER_MESSAGE + 1)}],
        [{"points": [[1, 1]] * 300}, {"points": [[2, 2]] * 201}],
        "a line",
    ],
)
def test_a_malformed_sketch_is_invalid(app, world, people, strokes):
    session_id = new_session(world)
    start_teaching(people, session_id)
    assert_refused(
        app,
        people.ann,
        "sketch",
        ({"session_id": session_id, "turn": 0, "strokes": strokes},),
        "invalid",
        (people.ben,),
    )


def test_the_listener_and_the_pause_cannot_draw(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    payload = {"session_id": session_id, "turn": 0, "strokes": [LINE]}
    assert_refused(app, people.ben, "sketch", (payload,), "forbidden", (people.ann,))
    start_rating(people, session_id)
    assert_refused(app, people.ann, "sketch", (payload,), "wrong_phase", (people.ben,))


def test_a_turn_holds_at_most_20000_points(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    turn_id = turn_row(app, session_id, 0).id
    change(app, Turn, turn_id, sketch_points=MAX_POINTS_PER_TURN - 2)
    ok(
        people.ann.emit(
            "sketch", {"session_id": session_id, "turn": 0, "strokes": [LINE]}
        )
    )
    ack = people.ann.emit(
        "sketch",
        {"session_id": session_id, "turn": 0, "strokes": [{"points": [[1, 1]]}]},
    )
    assert is_refusal(ack, "invalid") and "full" in ack["message"]
    assert turn_row(app, session_id, 0).sketch_points == MAX_POINTS_PER_TURN


def test_why_and_how_carry_a_question_to_the_teacher_and_the_database(
    app, world, people, browser_for
):
    session_id = new_session(world)
    start_teaching(people, session_id)
    people.ann.take()
    question = "Why does the macula densa sense chloride, not sodium?"
    ack = ok(
        people.ben.emit(
            "signal", {"session_id": session_id, "kind": "why", "question": question}
        )
    )
    assert ack["signal"]["question"] == question
    relayed = named(people.ann.take(), "signal")
    assert [(s["kind"], s["question"]) for s in relayed] == [("why", question)]
    ok(people.ben.emit("signal", {"session_id": session_id, "kind": "how"}))
    kinds = [(s.kind, s.question) for s in rows(app, Signal)]
    assert kinds == [("why", question), ("how", None)]
    assert len(stored_signals(app, session_id)) == 2
    # The teacher's review lists the question with the turn, and counts both.
    page = browser_for("ann@example.com").client.get("/review/explanations")
    html = page.get_data(as_text=True)
    assert "Questions asked" in html and "Why does the macula densa" in html
    assert "why 1 · how 1" in html


@pytest.mark.parametrize(
    ("kind", "question"),
    [("why", "x" * 201), ("how", 5), ("jargon", "Why?"), ("lost", "How?")],
)
def test_a_bad_question_is_invalid(app, world, people, kind, question):
    session_id = new_session(world)
    start_teaching(people, session_id)
    assert_refused(
        app,
        people.ben,
        "signal",
        ({"session_id": session_id, "kind": kind, "question": question},),
        "invalid",
        (people.ann,),
    )
