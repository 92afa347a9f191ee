"""Who may send what, and what a payload may hold (DESIGN §6).

Every client event in every phase from the turn's teacher, its listener and an
outsider; every malformed payload; text the database could not store. A refused
event answers with its code, writes nothing, pushes nothing, and leaves the
connection usable.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ally.models import Rating, Signal, User
from tests.support.room import (
    EVENTS,
    LONG,
    MISSING,
    MISSING_SESSION,
    World,
    assert_refused,
    change,
    dump,
    new_session,
    ok,
    rows,
    start_rating,
    start_teaching,
    turn_row,
    valid,
    with_fields,
)

# --- the authorization matrix -------------------------------------------------------

# state -> event -> (what the teacher of turn 0 gets, what its listener gets).
# Ann teaches turn 0 and Ben turn 1 of a 2-turn session; the outsider always
# gets not_found. "waiting" is both partners present before the start time.
MATRIX: dict[str, dict[str, tuple[str, str]]] = {
    "waiting": {
        "join_session": ("ok", "ok"),
        "leave_session": ("ok", "ok"),
        "set_topic": ("ok", "ok"),  # turn 0 for Ann, turn 1 for Ben
        "signal": ("wrong_phase", "wrong_phase"),
        "finish_turn": ("wrong_phase", "wrong_phase"),
        "rate": ("forbidden", "wrong_phase"),
        "summary": ("wrong_phase", "forbidden"),
        "self_rate": ("wrong_phase", "forbidden"),
        "ready": ("wrong_phase", "forbidden"),
        "predict": ("ok", "forbidden"),  # before turn 0's teaching starts
        "sketch": ("wrong_phase", "forbidden"),
        "call": ("ok", "ok"),  # from the room's opening (DESIGN §6)
    },
    "teaching": {
        "join_session": ("ok", "ok"),
        "leave_session": ("ok", "ok"),
        "set_topic": ("ok", "ok"),  # the current turn, and the listener's next
        "signal": ("forbidden", "ok"),
        "finish_turn": ("ok", "forbidden"),
        "rate": ("forbidden", "wrong_phase"),
        "summary": ("wrong_phase", "forbidden"),
        # DESIGN §6: once, "before the listener's rating is shown".
        "self_rate": ("ok", "forbidden"),
        "ready": ("wrong_phase", "forbidden"),
        "predict": ("wrong_phase", "forbidden"),  # turn 0 is being taught
        "sketch": ("ok", "forbidden"),
        "call": ("ok", "ok"),
    },
    "rating": {
        "join_session": ("ok", "ok"),
        "leave_session": ("ok", "ok"),
        # Ann taught the last of her turns; Ben teaches the next one.
        "set_topic": ("forbidden", "ok"),
        "signal": ("wrong_phase", "wrong_phase"),
        "finish_turn": ("wrong_phase", "wrong_phase"),
        "rate": ("forbidden", "ok"),
        "summary": ("ok", "forbidden"),
        # In the pause a self-rating also says the teacher is ready.
        "self_rate": ("ok", "forbidden"),
        "ready": ("ok", "forbidden"),
        "predict": ("wrong_phase", "forbidden"),
        "sketch": ("wrong_phase", "forbidden"),
        "call": ("ok", "ok"),
    },
}


def enter(state: str, world: World, people: SimpleNamespace) -> int:
    if state == "waiting":
        session_id = new_session(world, starts_in=LONG)
        ok(people.ann.emit("join_session", {"session_id": session_id}))
        ok(people.ben.emit("join_session", {"session_id": session_id}))
    elif state == "teaching":
        session_id = new_session(world)
        start_teaching(people, session_id)
    else:
        session_id = new_session(world)
        start_rating(people, session_id)
    for sock in (people.ann, people.ben, people.cara):
        sock.take()
    return session_id


@pytest.mark.parametrize(
    ("state", "event"),
    [pytest.param(s, e, id=f"{s}-{e}") for s in MATRIX for e in EVENTS],
)
def test_who_may_send_each_event_in_each_phase(app, world, people, state, event):
    session_id = enter(state, world, people)
    cara_session = new_session(world, teacher="cara")
    people.cara.take()
    teacher, listener = MATRIX[state][event]
    payload = valid(event, session_id)
    outsider_ack = assert_refused(
        app, people.cara, event, (payload,), "not_found", (people.ann, people.ben)
    )
    assert outsider_ack["message"] == "No such session."
    # The outsider's connection still works: her own room opens.
    ok(people.cara.emit("join_session", {"session_id": cara_session}))

    actors = [(people.ann, teacher), (people.ben, listener)]
    # Refusals first (they must leave the state as it is), then the accepted.
    for sock, expected in sorted(actors, key=lambda a: a[1] == "ok"):
        if expected == "ok":
            ack = ok(sock.emit(event, payload))
            assert "error" not in ack
        else:
            partner = people.ben if sock is people.ann else people.ann
            assert_refused(app, sock, event, (payload,), expected, (partner,))
            # The connection stays usable: a valid event right after succeeds.
            ok(sock.emit("join_session", {"session_id": session_id}))


@pytest.mark.parametrize("event", EVENTS)
def test_an_outsider_learns_nothing_about_a_session(app, world, people, event):
    session_id = new_session(world)
    start_teaching(people, session_id)
    people.cara.take()
    real = assert_refused(
        app,
        people.cara,
        event,
        (valid(event, session_id),),
        "not_found",
        (people.ann, people.ben),
    )
    missing = assert_refused(
        app, people.cara, event, (valid(event, MISSING_SESSION),), "not_found"
    )
    assert real == missing  # the same answer, word for word
    # A member asking about a session that does not exist gets the same too.
    member = assert_refused(
        app, people.ann, event, (valid(event, MISSING_SESSION),), "not_found"
    )
    assert member == missing


def test_an_anonymous_client_can_send_nothing(app, world, sockets):
    session_id = new_session(world)
    before = dump(app)
    anonymous = sockets(app.test_client())
    assert not anonymous.connected
    for event in EVENTS:
        with pytest.raises(RuntimeError, match="not connected"):
            anonymous.emit(event, valid(event, session_id))
    assert dump(app) == before


@pytest.mark.parametrize("event", EVENTS)
def test_a_socket_whose_login_has_ended_is_refused(app, world, people, event):
    session_id = new_session(world)
    start_rating(people, session_id)
    # As a password change or "log out everywhere" would, without the
    # disconnect that normally follows: the socket is still open.
    for user_id in (world.ann, world.ben):
        change(app, User, user_id, auth_version=User.auth_version + 1)
    for sock in (people.ann, people.ben):
        assert_refused(
            app,
            sock,
            event,
            (valid(event, session_id),),
            "forbidden",
            (people.ann, people.ben),
        )
        assert sock.connected


def test_an_id_too_large_for_the_database_is_not_found(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    for event in EVENTS:
        huge = valid(event, 2**63)
        assert_refused(app, people.ann, event, (huge,), "not_found", (people.ben,))
        ok(people.ann.emit("join_session", {"session_id": session_id}))


# --- payload validation ------------------------------------------------------------


NOT_OBJECTS: list[tuple] = [
    (),  # no payload at all
    (None,),
    ("session",),
    ([1, 2],),
    (7,),
    (3.5,),
    (True,),
]
BAD_SESSION_IDS: list[Any] = ["1", 1.0, True, None, [1], {"id": 1}]
BAD_SIMPLICITY: list[Any] = [0, 6, -1, 3.0, 4.5, "3", True, False, None, [3]]
BAD_TURN: list[Any] = [-1, 2, 99, "0", 0.0, True, None, [0]]

# event -> (state it is valid in, who sends it, the invalid field values)
VALIDATION: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    "join_session": ("teaching", "ben", []),
    "leave_session": ("teaching", "ben", []),
    "finish_turn": ("teaching", "ann", []),
    "set_topic": (
        "teaching",
        "ann",
        [
            {"title": "x" * 121},
            {"title": ""},
            {"title": " \t\n "},
            {"title": None},
            {"title": 42},
            {"title": ["RAAS"]},
            {"title": MISSING},
        ],
    ),
    "signal": (
        "teaching",
        "ben",
        [
            {"kind": "confused"},
            {"kind": "JARGON"},
            {"kind": ""},
            {"kind": None},
            {"kind": 1},
            {"kind": ["jargon"]},
            {"kind": MISSING},
            {"word": "w" * 41},
            {"word": 5},
            {"word": ["renin"]},
        ],
    ),
    "rate": (
        "rating",
        "ben",
        [
            *({"simplicity": v} for v in [*BAD_SIMPLICITY, MISSING]),
            *({"turn": v} for v in [*BAD_TURN, MISSING]),
            {"note": "n" * 1001},
            {"note": 5},
            {"note": ["a note"]},
            {"jargon": "renin"},
            {"jargon": {"renin": 1}},
            {"jargon": 3},
            {"jargon": [f"word{i}" for i in range(21)]},
            {"jargon": ["j" * 41]},
            {"jargon": [5]},
            {"jargon": [None]},
            {"jargon": [""]},
        ],
    ),
    "summary": (
        "rating",
        "ann",
        [
            {"text": "t" * 601},
            {"text": ""},
            {"text": "   "},
            {"text": None},
            {"text": 12},
            {"text": MISSING},
            *({"turn": v} for v in [*BAD_TURN, MISSING]),
        ],
    ),
    "self_rate": (
        "rating",
        "ann",
        [
            *({"simplicity": v} for v in [*BAD_SIMPLICITY, MISSING]),
            *({"turn": v} for v in [*BAD_TURN, MISSING]),
        ],
    ),
    "ready": ("rating", "ann", [{"turn": v} for v in [*BAD_TURN, MISSING]]),
    # Ben predicts his turn 1 while Ann teaches turn 0.
    "predict": (
        "teaching",
        "ben",
        [
            *({"simplicity": v} for v in [*BAD_SIMPLICITY, MISSING]),
            *({"turn": v} for v in [*BAD_TURN, MISSING]),
        ],
    ),
    # Payload shapes in detail: tests/room/test_predict_and_sketch.py.
    "sketch": (
        "teaching",
        "ann",
        [
            {"strokes": MISSING},
            {"strokes": []},
            {"strokes": [{"points": [[1001, 5]]}]},
            {"clear": "yes"},
            *({"turn": v} for v in [*BAD_TURN, MISSING]),
        ],
    ),
    # Payload shapes in detail: tests/room/test_call.py.
    "call": (
        "teaching",
        "ben",
        [
            {"kind": "ring"},
            {"kind": MISSING},
            {"data": {"audio": 1, "video": False}},
            {"data": MISSING},
        ],
    ),
}


@pytest.mark.parametrize("event", EVENTS)
def test_a_bad_payload_is_invalid_writes_nothing_and_the_socket_goes_on(
    app, world, people, event
):
    state, actor, bad_fields = VALIDATION[event]
    if state == "teaching":
        session_id = new_session(world)
        start_teaching(people, session_id)
    else:
        session_id = new_session(world)
        start_rating(people, session_id)
    sock = getattr(people, actor)
    partner = people.ben if actor == "ann" else people.ann
    base = valid(event, session_id, turn=1 if event == "predict" else 0)

    cases: list[tuple] = [*NOT_OBJECTS, (base, "extra"), (base, base)]
    cases += [(with_fields(base, {"session_id": v}),) for v in BAD_SESSION_IDS]
    cases.append((with_fields(base, {"session_id": MISSING}),))
    cases += [(with_fields(base, fields),) for fields in bad_fields]
    for args in cases:
        assert_refused(app, sock, event, args, "invalid", (partner,))
    # The very same socket, with the well-formed payload: accepted.
    ok(sock.emit(event, base))


def test_the_upper_bounds_are_inclusive_and_text_is_folded(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    title = "T" * 120
    assert ok(people.ann.emit("set_topic", {"session_id": session_id, "title": title}))
    assert turn_row(app, session_id, 0).topic == title
    ack = ok(
        people.ben.emit(
            "signal", {"session_id": session_id, "kind": "jargon", "word": "w" * 40}
        )
    )
    assert ack["signal"]["word"] == "w" * 40
    ack = ok(
        people.ben.emit(
            "signal",
            {"session_id": session_id, "kind": "lost", "word": "  macula \n densa "},
        )
    )
    assert ack["signal"]["word"] == "macula densa"
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    jargon = [f"{i:02d}" + "j" * 38 for i in range(20)]
    rating = {
        "session_id": session_id,
        "turn": 0,
        "simplicity": 1,
        "note": "n" * 1000,
        "jargon": jargon,
    }
    ack = ok(people.ben.emit("rate", rating))
    assert (ack["rating"]["note"], ack["rating"]["jargon"]) == ("n" * 1000, jargon)
    text = "s" * 600
    ack = ok(
        people.ann.emit("summary", {"session_id": session_id, "turn": 0, "text": text})
    )
    assert ack["summary"] == text
    stored = turn_row(app, session_id, 0)
    assert stored.summary == text
    [row] = rows(app, Rating, Rating.session_id == session_id)
    assert (row.simplicity, row.note, row.jargon) == (1, "n" * 1000, jargon)
    # Both ends of 1–5 are accepted (the listener gave 1; the teacher gives 5).
    ok(
        people.ann.emit(
            "self_rate", {**valid("self_rate", session_id), "simplicity": 5}
        )
    )
    assert turn_row(app, session_id, 0).self_simplicity == 5


# --- text the database cannot store ----------------------------------------------

UNSTORABLE = [
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("caf\udce9 au lait", id="surrogate-escape"),
    pytest.param("bad\x00word", id="nul"),
]
# (event, the state it is valid in, who sends it, the text field as a payload)
TEXT_FIELDS = [
    pytest.param("set_topic", "teaching", "ann", lambda v: {"title": v}, id="title"),
    pytest.param("signal", "teaching", "ben", lambda v: {"word": v}, id="word"),
    pytest.param("rate", "rating", "ben", lambda v: {"note": v}, id="note"),
    pytest.param("rate", "rating", "ben", lambda v: {"jargon": [v]}, id="jargon"),
    pytest.param("summary", "rating", "ann", lambda v: {"text": v}, id="summary"),
]


@pytest.mark.parametrize("value", UNSTORABLE)
@pytest.mark.parametrize(("event", "state", "actor", "field"), TEXT_FIELDS)
def test_text_that_cannot_be_stored_is_invalid_before_anything_happens(
    app, world, people, event, state, actor, field, value
):
    session_id = new_session(world)
    if state == "teaching":
        start_teaching(people, session_id)
    else:
        start_rating(people, session_id)
    sock = getattr(people, actor)
    partner = people.ben if actor == "ann" else people.ann
    payload = {**valid(event, session_id), **field(value)}
    # Refused as invalid: nothing written, nothing pushed (not even a
    # signal's relay to the teacher), nothing queued for a later write.
    ack = assert_refused(app, sock, event, (payload,), "invalid", (partner,))
    assert value not in ack["message"]
    lines = app.extensions.get("ally.signal_store")
    assert lines is None or lines.pending.rows == []
    # The same field with storable text is accepted and stored as sent.
    ok(sock.emit(event, {**valid(event, session_id), **field("café au lait")}))
    stored = {
        "set_topic": lambda: turn_row(app, session_id, 0).topic,
        "signal": lambda: signal_words(app, session_id),
        "rate": lambda: rating_texts(app, session_id),
        "summary": lambda: turn_row(app, session_id, 0).summary,
    }[event]()
    assert "café au lait" in str(stored)


def signal_words(app, session_id: int) -> list[str | None]:
    return [s.word for s in rows(app, Signal, Signal.session_id == session_id)]


def rating_texts(app, session_id: int) -> list[Any]:
    return [
        (r.note, r.jargon) for r in rows(app, Rating, Rating.session_id == session_id)
    ]
