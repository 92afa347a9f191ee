"""The contract itself (DESIGN §6) and the `session_state` pushed on every change.

Each snapshot is checked key by key against the database (`check_snapshot`),
the additive fields too: `reflecting`, `topic_turns`, and per turn `id`,
`rated`, `teacher_ready`, `reflection_ends_at`.
"""

from __future__ import annotations

from ally.extensions import socketio
from ally.jobs import run_job
from ally.models import utcnow
from ally.realtime import room_events
from ally.services import errors
from tests.support.room import (
    CODES,
    EVENTS,
    check_snapshot,
    named,
    new_session,
    ok,
    pass_deadline,
    start_teaching,
    valid,
)


def test_the_contract_names_every_handled_event_and_code(app):
    # Every client event of the contract's table, and nothing else, is handled
    # on the Socket.IO server (besides connecting and disconnecting).
    handled = set(socketio.server.handlers["/"]) - {"connect", "disconnect"}
    assert handled == set(EVENTS)
    assert set(room_events.EVENTS) == set(EVENTS)
    codes = {
        cls.code
        for cls in (
            errors.NotFound,
            errors.Forbidden,
            errors.WrongPhase,
            errors.Invalid,
            errors.AlreadyRated,
            errors.RateLimited,
        )
    }
    assert codes == set(CODES)
    # A row the database refused is the additive server_error, as any bug.
    assert errors.NotStored.code == "server_error"


def test_the_room_gets_the_state_on_every_change(app, world, people):
    session_id = new_session(world)

    def pushed_once() -> dict:
        """Both partners got exactly one snapshot, equal to the database."""
        ann, ben = (
            named(sock.take(), "session_state") for sock in (people.ann, people.ben)
        )
        assert (len(ann), len(ben)) == (1, 1), (ann, ben)
        assert ann == ben
        check_snapshot(app, ann[0], session_id, world)
        return ann[0]

    start_teaching(people, session_id)  # checked in the join test
    ok(people.ann.emit("set_topic", {"session_id": session_id, "title": "RAAS"}))
    assert pushed_once()["turns"][0]["topic"] == "RAAS"
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    state = pushed_once()
    assert state["phase"] == "rating"
    assert sorted(state["reflecting"]) == sorted([world.ann, world.ben])
    assert state["topic_turns"] == {str(world.ann): None, str(world.ben): 1}
    ok(people.ann.emit("summary", valid("summary", session_id)))
    assert pushed_once()["turns"][0]["summary"] is not None
    ok(people.ben.emit("rate", valid("rate", session_id)))
    state = pushed_once()
    assert (state["turn"], state["reflecting"]) == (0, [world.ann])
    ok(people.ann.emit("ready", valid("ready", session_id)))
    state = pushed_once()
    assert (state["phase"], state["turn"], state["reflecting"]) == ("teaching", 1, [])
    pass_deadline(app, session_id)
    run_job("advance_phases", utcnow())
    assert pushed_once()["phase"] == "rating"
    ok(people.ben.emit("self_rate", valid("self_rate", session_id, turn=1)))
    assert pushed_once()["reflecting"] == [world.ann]
    ok(people.ann.emit("rate", valid("rate", session_id, turn=1)))
    state = pushed_once()
    assert (state["status"], state["reflecting"]) == ("completed", [])
    assert people.cara.take() == []  # not in the room
