"""Naming what one will teach: `set_topic`, `topic_turns`, prepared topics.

The teacher of the current or next turn names it before its teaching ends
(DESIGN §6); the snapshot's `topic_turns` says, for each partner, which turn
that is now. A topic prepared on the session page is the teacher's first
turn's: every later turn starts with no topic and is named anew.
"""

from __future__ import annotations

from ally.models import TeachSession
from ally.services import schedule
from tests.support.room import (
    assert_refused,
    check_snapshot,
    load,
    named,
    new_session,
    ok,
    start_teaching,
    turn_row,
    valid,
)


def test_set_topic_names_the_current_or_the_next_turn_of_its_teacher(
    app, world, people
):
    session_id = new_session(world, turns=4)
    # Waiting: each partner names their first turn (Ann 0, Ben 1).
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    ack = ok(people.ann.emit("set_topic", {"session_id": session_id, "title": "RAAS"}))
    assert ack == {"ok": True, "turn": 0, "topic": "RAAS"}
    ack = ok(
        people.ben.emit(
            "set_topic", {"session_id": session_id, "title": "  Frank–Starling  law "}
        )
    )
    assert ack == {"ok": True, "turn": 1, "topic": "Frank–Starling law"}
    people.ann.take()
    ok(people.ben.emit("join_session", {"session_id": session_id}))
    people.ben.take()
    [state] = named(people.ann.take(), "session_state")
    assert [t["topic"] for t in state["turns"]] == [
        "RAAS",
        "Frank–Starling law",
        None,
        None,
    ]
    # Teaching turn 0: Ann renames it, and the room sees the new title.
    ack = ok(
        people.ann.emit("set_topic", {"session_id": session_id, "title": "RAAS, again"})
    )
    assert (ack["turn"], ack["topic"]) == (0, "RAAS, again")
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert state["turns"][0]["topic"] == "RAAS, again"
    assert turn_row(app, session_id, 0).topic == "RAAS, again"

    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    ok(people.ben.emit("rate", valid("rate", session_id, turn=0)))
    ok(people.ann.emit("ready", valid("ready", session_id, turn=0)))
    # Ben teaches turn 1 (the current one); Ann's next turn is 2.
    ack = ok(people.ann.emit("set_topic", {"session_id": session_id, "title": "ADH"}))
    assert (ack["turn"], ack["topic"]) == (2, "ADH")
    ack = ok(
        people.ben.emit("set_topic", {"session_id": session_id, "title": "Preload"})
    )
    assert ack["turn"] == 1
    assert [turn_row(app, session_id, i).topic for i in (0, 1, 2)] == [
        "RAAS, again",
        "Preload",
        "ADH",
    ]


def test_set_topic_is_refused_after_its_teachers_last_turn_and_when_over(
    app, world, people
):
    session_id = new_session(world)  # 2 turns: Ann 0, Ben 1
    start_teaching(people, session_id)
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    ok(people.ben.emit("rate", valid("rate", session_id, turn=0)))
    ok(people.ann.emit("ready", valid("ready", session_id, turn=0)))
    # Turn 1 is being taught by Ben: Ann teaches no current or next turn.
    topic = {"session_id": session_id, "title": "Late topic"}
    assert_refused(app, people.ann, "set_topic", (topic,), "forbidden", (people.ben,))
    ok(people.ben.emit("finish_turn", {"session_id": session_id}))
    # Ben's turn has finished teaching: too late to rename it.
    assert_refused(app, people.ben, "set_topic", (topic,), "forbidden", (people.ann,))
    ok(people.ann.emit("rate", valid("rate", session_id, turn=1)))
    ok(people.ben.emit("ready", valid("ready", session_id, turn=1)))
    assert load(app, TeachSession, session_id).status == "completed"
    for sock, partner in ((people.ann, people.ben), (people.ben, people.ann)):
        assert_refused(app, sock, "set_topic", (topic,), "wrong_phase", (partner,))


def test_topic_turns_say_who_may_name_which_turn_at_every_stage(app, world, people):
    session_id = new_session(world, turns=4)  # Ann teaches 0 and 2, Ben 1 and 3
    ann, ben = people.ann, people.ben
    # stage -> (Ann's turn to name, Ben's), None: none now.
    expected = {
        "waiting": (0, 1),
        "teaching 0": (0, 1),
        "rating 0": (2, 1),  # Ben's turn is next; Ann's own is the one after
        "teaching 1": (2, 1),
        "rating 1": (2, 3),
        "teaching 2": (2, 3),
        "rating 2": (None, 3),  # Ann has taught her last turn
        "teaching 3": (None, 3),
        "rating 3": (None, None),  # nothing is left to name
        "done": (None, None),
    }

    def check(stage: str) -> None:
        state = ok(ann.emit("join_session", {"session_id": session_id}))["state"]
        check_snapshot(app, state, session_id, world)
        assert stage in (state["phase"], f"{state['phase']} {state['turn']}")
        ann_turn, ben_turn = expected[stage]
        want = {str(world.ann): ann_turn, str(world.ben): ben_turn}
        assert state["topic_turns"] == want, stage
        for sock, partner, user in ((ann, ben, world.ann), (ben, ann, world.ben)):
            target = state["topic_turns"][str(user)]
            title = {"session_id": session_id, "title": f"{stage} by {user}"}
            if target is not None:
                ack = ok(sock.emit("set_topic", title))
                assert (ack["turn"], ack["topic"]) == (target, title["title"]), stage
                assert turn_row(app, session_id, target).topic == title["title"]
            elif stage == "done":
                assert_refused(app, sock, "set_topic", (title,), "wrong_phase")
            else:
                assert_refused(
                    app, sock, "set_topic", (title,), "forbidden", (partner,)
                )
        ann.take(), ben.take()

    ok(ann.emit("join_session", {"session_id": session_id}))
    check("waiting")
    ok(ben.emit("join_session", {"session_id": session_id}))
    for turn in range(4):
        teacher, listener = (ann, ben) if turn % 2 == 0 else (ben, ann)
        check(f"teaching {turn}")
        ok(teacher.emit("finish_turn", {"session_id": session_id}))
        check(f"rating {turn}")
        ok(listener.emit("rate", valid("rate", session_id, turn=turn)))
        ok(teacher.emit("ready", valid("ready", session_id, turn=turn)))
    assert load(app, TeachSession, session_id).status == "completed"
    check("done")


def test_a_prepared_topic_names_only_the_teachers_first_turn(app, world, people):
    session_id = new_session(world, turns=4)  # Ann teaches 0 and 2, Ben 1 and 3
    # Each prepared a topic on the session page before the session.
    schedule.set_planned_topic(world.ann, session_id, "RAAS")
    schedule.set_planned_topic(world.ben, session_id, "Preload")
    start_teaching(people, session_id)
    assert turn_row(app, session_id, 0).topic == "RAAS"
    topics = []
    for turn in range(3):
        teacher, listener = (
            (people.ann, people.ben) if turn % 2 == 0 else (people.ben, people.ann)
        )
        ok(teacher.emit("finish_turn", {"session_id": session_id}))
        ok(listener.emit("rate", valid("rate", session_id, turn=turn)))
        ack = ok(teacher.emit("ready", valid("ready", session_id, turn=turn)))
        state = ack["state"]
        assert (state["phase"], state["turn"]) == ("teaching", turn + 1)
        topics.append(state["turns"][turn + 1]["topic"])
        for sock in (people.ann, people.ben):
            pushed = named(sock.take(), "session_state")[-1]
            assert pushed["turns"][turn + 1]["topic"] == topics[-1]
    # Ben's first turn starts with his prepared topic; the second turn of each
    # (2: Ann's, 3: Ben's) starts with none, and the room asks for one.
    assert topics == ["Preload", None, None]
    assert [turn_row(app, session_id, i).topic for i in range(4)] == [
        "RAAS",
        "Preload",
        None,
        None,
    ]
    state = ok(people.ann.emit("join_session", {"session_id": session_id}))["state"]
    assert state["topic_turns"] == {str(world.ann): None, str(world.ben): 3}
    # Teaching turn 3, Ben names it.
    ack = ok(people.ben.emit("set_topic", {"session_id": session_id, "title": "ADH"}))
    assert (ack["turn"], ack["topic"]) == (3, "ADH")
    assert turn_row(app, session_id, 3).topic == "ADH"
    # What was prepared for the session still stands for its first turns.
    assert turn_row(app, session_id, 2).topic is None
