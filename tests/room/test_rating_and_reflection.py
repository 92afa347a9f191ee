"""After teaching: `finish_turn`, then the pause of `rate`, `summary`,
`self_rate` and `ready`.

The rating phase is a pause for both partners (DESIGN §2): it ends as soon as
the listener has rated and the teacher is done reflecting (said `ready`, or
rated themselves during the pause), or at its deadline, the turn then staying
unrated or the teacher not ready. The teacher keeps the turn's rating time to
finish the summary even when the pause ended earlier.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ally.jobs import run_job
from ally.models import Rating, TeachSession, Turn, utcnow
from tests.support.room import (
    LONG,
    MISSING,
    assert_refused,
    change,
    check_snapshot,
    dump,
    load,
    named,
    new_session,
    ok,
    pass_deadline,
    rows,
    start_rating,
    start_teaching,
    turn_row,
    utc,
    valid,
    with_fields,
)


def test_finish_turn_is_the_teachers_and_starts_the_rating_phase(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    finish = {"session_id": session_id}
    assert_refused(
        app, people.ben, "finish_turn", (finish,), "forbidden", (people.ann,)
    )
    version = load(app, TeachSession, session_id).version
    before = utcnow()
    ack = ok(people.ann.emit("finish_turn", finish))
    assert set(ack) == {"ok", "state"}
    session = load(app, TeachSession, session_id)
    assert (session.phase, session.current_turn, session.version) == (
        "rating",
        0,
        version + 1,
    )
    turn = turn_row(app, session_id, 0)
    assert before <= turn.teach_ends_at <= utcnow()  # teaching ended when told
    assert turn.rating_ends_at == turn.teach_ends_at + timedelta(seconds=LONG)
    assert session.phase_ends_at == turn.rating_ends_at
    check_snapshot(app, ack["state"], session_id, world)
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert (state["phase"], state["version"]) == ("rating", version + 1)
    # A second finish (a double click) is the wrong phase and changes nothing.
    assert_refused(
        app, people.ann, "finish_turn", (finish,), "wrong_phase", (people.ben,)
    )


def test_a_rating_is_given_once_and_with_the_teachers_ready_moves_the_room_on(
    app, world, people
):
    session_id = new_session(world)
    start_teaching(people, session_id)
    rating = {
        "session_id": session_id,
        "turn": 0,
        "simplicity": 4,
        "note": "  Lost me at the   kidney. ",
        "jargon": ["renin", " JG  cells ", "renin"],
    }
    # Not while the turn is being taught, and never by the teacher.
    assert_refused(app, people.ben, "rate", (rating,), "wrong_phase", (people.ann,))
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    people.ann.take(), people.ben.take()
    assert_refused(app, people.ann, "rate", (rating,), "forbidden", (people.ben,))

    ack = ok(people.ben.emit("rate", rating))
    expected = {
        "session_id": session_id,
        "turn": 0,
        "simplicity": 4,
        "note": "Lost me at the kidney.",
        "jargon": ["renin", "JG cells"],
    }
    assert ack == {"ok": True, "rating": expected}
    [row] = rows(app, Rating, Rating.session_id == session_id)
    assert (row.rater_id, row.teacher_id, row.simplicity, row.note, row.jargon) == (
        world.ben,
        world.ann,
        4,
        "Lost me at the kidney.",
        ["renin", "JG cells"],
    )
    assert row.turn_id == turn_row(app, session_id, 0).id
    # The rating alone does not end the pause: Ann is still reflecting.
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.current_turn) == (
        "live",
        "rating",
        0,
    )
    ann_events = people.ann.take()
    for events in (ann_events, people.ben.take()):
        assert named(events, "rated") == [expected]
        [state] = named(events, "session_state")
        assert (state["phase"], state["turn"]) == ("rating", 0)
        assert state["reflecting"] == [world.ann]
        assert (state["turns"][0]["simplicity"], state["turns"][0]["rated"]) == (
            4,
            True,
        )
    check_snapshot(app, state, session_id, world)
    [note] = named(ann_events, "notification")
    assert (note["kind"], note["url"]) == (
        "rating_received",
        f"/sessions/{session_id}/summary",
    )
    assert "4" not in note["text"]  # the figure is not in the notification
    # Ann is ready too: turn 1 (Ben teaching) starts at once.
    ready = ok(people.ann.emit("ready", valid("ready", session_id)))
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.current_turn) == (
        "live",
        "teaching",
        1,
    )
    first, second = turn_row(app, session_id, 0), turn_row(app, session_id, 1)
    assert first.ended_at == first.rating_ends_at == second.started_at
    assert first.teacher_ready_at == first.ended_at
    assert session.phase_ends_at == second.started_at + timedelta(seconds=LONG)
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert state == ready["state"]
        assert (state["phase"], state["turn"], state["reflecting"]) == (
            "teaching",
            1,
            [],
        )
    check_snapshot(app, state, session_id, world)

    # The same rating again (a retry after a lost ack): ok, no second row.
    before = dump(app)
    again = ok(people.ben.emit("rate", rating))
    assert again == {"ok": True, "rating": expected}
    assert dump(app) == before
    assert people.ann.take() == [] and people.ben.take() == []
    # A different one is refused, whatever differs.
    for changed in (
        {"simplicity": 5},
        {"note": "Clear enough."},
        {"jargon": ["renin"]},
        {"jargon": MISSING, "note": MISSING},
    ):
        assert_refused(
            app,
            people.ben,
            "rate",
            (with_fields(rating, changed),),
            "already_rated",
            (people.ann,),
        )
    # Turn 1: Ben teaches it, so he cannot rate it; Ann rates after teaching.
    assert_refused(
        app,
        people.ben,
        "rate",
        (valid("rate", session_id, turn=1),),
        "forbidden",
        (people.ann,),
    )
    assert_refused(
        app,
        people.ann,
        "rate",
        (valid("rate", session_id, turn=1),),
        "wrong_phase",
        (people.ben,),
    )
    ok(people.ben.emit("finish_turn", {"session_id": session_id}))
    people.ann.take(), people.ben.take()
    ack = ok(people.ann.emit("rate", {**valid("rate", session_id, turn=1), "note": ""}))
    assert ack["rating"] == {
        "session_id": session_id,
        "turn": 1,
        "simplicity": 4,
        "note": "",
        "jargon": ["renin"],
    }
    assert load(app, TeachSession, session_id).phase == "rating"
    # After the last turn's rating, with its teacher ready, it is completed.
    ok(people.ben.emit("ready", valid("ready", session_id, turn=1)))
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.current_turn) == (
        "completed",
        "done",
        2,
    )
    assert session.phase_ends_at is None
    assert session.ended_at == turn_row(app, session_id, 1).ended_at
    [_, state] = named(people.ben.take(), "session_state")  # rated, then ready
    assert (state["status"], state["phase"], state["phase_ends_at"]) == (
        "completed",
        "done",
        None,
    )
    assert [t["simplicity"] for t in state["turns"]] == [4, 4]
    assert len(rows(app, Rating, Rating.session_id == session_id)) == 2
    # Over: nothing moves any more.
    for event, sock in (("finish_turn", people.ben), ("signal", people.ann)):
        assert_refused(
            app, sock, event, (valid(event, session_id),), "wrong_phase", (people.ann,)
        )


def test_a_turn_left_unrated_at_its_deadline_can_no_longer_be_rated(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    # Teaching's deadline passes with no client doing anything: the job moves it.
    deadline = utcnow() - timedelta(seconds=1)
    change(app, TeachSession, session_id, phase_ends_at=deadline)
    assert run_job("advance_phases", utcnow()) == 1
    session = load(app, TeachSession, session_id)
    assert (session.phase, session.phase_ends_at) == (
        "rating",
        deadline + timedelta(seconds=LONG),
    )
    assert turn_row(app, session_id, 0).teach_ends_at == deadline
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert (state["phase"], utc(state["phase_ends_at"])) == (
            "rating",
            session.phase_ends_at,
        )
    # The rating deadline passes too: turn 1 starts, turn 0 stays unrated.
    rating_deadline = utcnow() - timedelta(seconds=1)
    change(app, TeachSession, session_id, phase_ends_at=rating_deadline)
    assert run_job("advance_phases", utcnow()) == 1
    session = load(app, TeachSession, session_id)
    assert (session.phase, session.current_turn) == ("teaching", 1)
    assert turn_row(app, session_id, 1).started_at == rating_deadline
    people.ann.take(), people.ben.take()
    assert_refused(
        app,
        people.ben,
        "rate",
        (valid("rate", session_id, turn=0),),
        "wrong_phase",
        (people.ann,),
    )
    assert rows(app, Rating, Rating.session_id == session_id) == []


def test_summary_and_self_rate_belong_to_the_turns_rating_time(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    summary = valid("summary", session_id, turn=0)
    self_rate = valid("self_rate", session_id, turn=0)
    # Not while teaching (the summary comes after, from memory).
    assert_refused(app, people.ann, "summary", (summary,), "wrong_phase", (people.ben,))
    # Nothing about a turn not taught yet.
    assert_refused(
        app,
        people.ben,
        "self_rate",
        (valid("self_rate", session_id, turn=1),),
        "wrong_phase",
        (people.ann,),
    )
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    people.ann.take(), people.ben.take()
    # Only that turn's teacher.
    assert_refused(app, people.ben, "summary", (summary,), "forbidden", (people.ann,))
    assert_refused(
        app, people.ben, "self_rate", (self_rate,), "forbidden", (people.ann,)
    )

    ack = ok(people.ann.emit("summary", summary))
    assert ack == {
        "ok": True,
        "session_id": session_id,
        "turn": 0,
        "summary": summary["text"],
    }
    turn = turn_row(app, session_id, 0)
    assert turn.summary == summary["text"] and turn.summary_at is not None
    for sock in (people.ann, people.ben):
        [state] = named(sock.take(), "session_state")
        assert state["turns"][0]["summary"] == summary["text"]
    ack = ok(people.ann.emit("self_rate", self_rate))
    assert ack == {"ok": True, "session_id": session_id, "turn": 0, "simplicity": 3}
    assert turn_row(app, session_id, 0).self_simplicity == 3
    # Self-rating is once: the same again is fine, a different one is refused.
    ok(people.ann.emit("self_rate", self_rate))
    assert_refused(
        app,
        people.ann,
        "self_rate",
        ({**self_rate, "simplicity": 5},),
        "already_rated",
        (people.ben,),
    )

    # Rating herself in the pause said Ann was ready: the listener's rating
    # ends the pause early; the teacher keeps the rest of the rating time to
    # finish the summary.
    assert turn_row(app, session_id, 0).teacher_ready_at is not None
    ok(people.ben.emit("rate", valid("rate", session_id, turn=0)))
    assert load(app, TeachSession, session_id).current_turn == 1
    revised = {**summary, "text": "Low pressure: the kidney releases renin."}
    ack = ok(people.ann.emit("summary", revised))
    assert turn_row(app, session_id, 0).summary == revised["text"]
    # Once the turn's rating time has run out, it is too late.
    turn = turn_row(app, session_id, 0)
    change(
        app,
        Turn,
        turn.id,
        teach_ends_at=utcnow() - timedelta(seconds=LONG + 5),
    )
    people.ann.take(), people.ben.take()
    assert_refused(app, people.ann, "summary", (summary,), "wrong_phase", (people.ben,))


def test_self_rating_closes_with_the_turns_rating_time(app, world, people):
    session_id = new_session(world)
    start_rating(people, session_id)
    ok(people.ben.emit("rate", valid("rate", session_id, turn=0)))
    # Ann never says ready: the pause ends at its deadline, turn 1 starts.
    pass_deadline(app, session_id)
    assert run_job("advance_phases", utcnow()) == 1
    assert load(app, TeachSession, session_id).current_turn == 1
    turn = turn_row(app, session_id, 0)
    assert turn.teacher_ready_at is None
    change(app, Turn, turn.id, teach_ends_at=utcnow() - timedelta(seconds=LONG + 5))
    people.ann.take(), people.ben.take()
    assert_refused(
        app,
        people.ann,
        "self_rate",
        (valid("self_rate", session_id, turn=0),),
        "wrong_phase",
        (people.ben,),
    )


# --- the pause waits for both -----------------------------------------------------


def pushed(people, session_id: int, world, app) -> dict:
    """The one snapshot both partners got since the last look (equal to the
    database); it is the same for both."""
    ann = named(people.ann.take(), "session_state")
    ben = named(people.ben.take(), "session_state")
    assert len(ann) == 1 and ann == ben, (ann, ben)
    check_snapshot(app, ann[0], session_id, world)
    return ann[0]


def test_the_pause_waits_for_the_teachers_ready_after_the_rating(app, world, people):
    session_id = new_session(world)
    start_rating(people, session_id)
    state = ok(people.ann.emit("join_session", {"session_id": session_id}))["state"]
    assert sorted(state["reflecting"]) == sorted([world.ann, world.ben])
    people.ann.take()

    ok(people.ben.emit("rate", valid("rate", session_id)))
    state = pushed(people, session_id, world, app)
    assert (state["status"], state["phase"], state["turn"]) == ("live", "rating", 0)
    assert state["reflecting"] == [world.ann]
    assert (state["turns"][0]["rated"], state["turns"][0]["teacher_ready"]) == (
        True,
        False,
    )
    # The pause still runs to its deadline, and turn 1 has not started.
    session = load(app, TeachSession, session_id)
    assert session.phase_ends_at == turn_row(app, session_id, 0).rating_ends_at
    assert turn_row(app, session_id, 1) is None

    ack = ok(people.ann.emit("ready", valid("ready", session_id)))
    assert (ack["session_id"], ack["turn"]) == (session_id, 0)
    state = pushed(people, session_id, world, app)
    assert ack["state"] == state
    assert (state["phase"], state["turn"], state["reflecting"]) == ("teaching", 1, [])
    assert state["turns"][0]["teacher_ready"] is True
    turn = turn_row(app, session_id, 0)
    assert (
        turn.ended_at == turn.teacher_ready_at == utc(state["turns"][1]["started_at"])
    )


def test_a_ready_teacher_waits_for_the_listeners_rating(app, world, people):
    session_id = new_session(world)
    start_rating(people, session_id)
    ack = ok(people.ann.emit("ready", valid("ready", session_id)))
    state = pushed(people, session_id, world, app)
    assert ack["state"] == state
    assert (state["phase"], state["turn"], state["reflecting"]) == (
        "rating",
        0,
        [world.ben],
    )
    assert (state["turns"][0]["rated"], state["turns"][0]["teacher_ready"]) == (
        False,
        True,
    )
    assert turn_row(app, session_id, 0).ended_at is None

    ok(people.ben.emit("rate", valid("rate", session_id)))
    state = pushed(people, session_id, world, app)
    assert (state["phase"], state["turn"], state["reflecting"]) == ("teaching", 1, [])
    assert state["turns"][0]["simplicity"] == 4


def test_a_self_rating_in_the_pause_counts_as_ready(app, world, people):
    session_id = new_session(world)
    start_rating(people, session_id)
    ack = ok(people.ann.emit("self_rate", valid("self_rate", session_id)))
    assert ack == {"ok": True, "session_id": session_id, "turn": 0, "simplicity": 3}
    state = pushed(people, session_id, world, app)
    assert (state["phase"], state["reflecting"]) == ("rating", [world.ben])
    assert state["turns"][0]["teacher_ready"] is True
    # The self-rating is not shown while the turn goes on.
    assert state["turns"][0]["self_simplicity"] is None
    turn = turn_row(app, session_id, 0)
    assert (turn.self_simplicity, turn.teacher_ready_at) == (3, turn.self_rated_at)
    # Saying ready as well changes nothing; the rating ends the pause.
    before = dump(app)
    ok(people.ann.emit("ready", valid("ready", session_id)))
    assert dump(app) == before
    ok(people.ben.emit("rate", valid("rate", session_id)))
    state = pushed(people, session_id, world, app)
    assert (state["phase"], state["turn"]) == ("teaching", 1)
    assert state["turns"][0]["self_simplicity"] == 3  # shown once the turn is over


def test_after_ready_a_self_rating_is_too_late(app, world, people):
    # Said done: the partner's rating may be shown, so a self-rating would no
    # longer come before seeing it.
    session_id = new_session(world)
    start_rating(people, session_id)
    ok(people.ann.emit("ready", valid("ready", session_id)))
    people.ann.take(), people.ben.take()
    assert_refused(
        app,
        people.ann,
        "self_rate",
        (valid("self_rate", session_id),),
        "wrong_phase",
        (people.ben,),
    )


def test_ready_is_the_teachers_and_only_in_their_turns_pause(app, world, people):
    session_id = new_session(world)
    start_teaching(people, session_id)
    ready = valid("ready", session_id)
    # While teaching: too early.
    assert_refused(app, people.ann, "ready", (ready,), "wrong_phase", (people.ben,))
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    people.ann.take(), people.ben.take()
    # The listener is not the one reflecting on turn 0.
    assert_refused(app, people.ben, "ready", (ready,), "forbidden", (people.ann,))
    # Turn 1 is not in its pause (Ben teaches it; Ann does not).
    turn_1 = valid("ready", session_id, turn=1)
    assert_refused(app, people.ben, "ready", (turn_1,), "wrong_phase", (people.ann,))
    assert_refused(app, people.ann, "ready", (turn_1,), "forbidden", (people.ben,))
    # The pause ended at its deadline, Ann never ready: too late now.
    pass_deadline(app, session_id)
    assert run_job("advance_phases", utcnow()) == 1
    people.ann.take(), people.ben.take()
    assert_refused(app, people.ann, "ready", (ready,), "wrong_phase", (people.ben,))
    assert turn_row(app, session_id, 0).teacher_ready_at is None


def test_ready_twice_is_fine_and_changes_nothing(app, world, people):
    session_id = new_session(world)
    start_rating(people, session_id)
    first = ok(people.ann.emit("ready", valid("ready", session_id)))
    assert first["state"]["reflecting"] == [world.ben]
    people.ann.take(), people.ben.take()
    before = dump(app)
    again = ok(people.ann.emit("ready", valid("ready", session_id)))
    assert (again["session_id"], again["turn"]) == (session_id, 0)
    assert dump(app) == before
    assert people.ann.take() == [] and people.ben.take() == []
    # After the pause, saying it again for that turn is still fine.
    ok(people.ben.emit("rate", valid("rate", session_id)))
    people.ann.take(), people.ben.take()
    before = dump(app)
    ok(people.ann.emit("ready", valid("ready", session_id)))
    assert dump(app) == before
    assert people.ann.take() == [] and people.ben.take() == []


@pytest.mark.parametrize("done", ["nobody", "rated", "ready"])
def test_the_deadline_ends_the_pause_whoever_is_still_reflecting(
    app, world, people, done
):
    session_id = new_session(world)
    start_rating(people, session_id)
    if done == "rated":
        ok(people.ben.emit("rate", valid("rate", session_id)))
    elif done == "ready":
        ok(people.ann.emit("ready", valid("ready", session_id)))
    people.ann.take(), people.ben.take()
    assert load(app, TeachSession, session_id).phase == "rating"
    deadline = pass_deadline(app, session_id)
    assert run_job("advance_phases", utcnow()) == 1
    state = pushed(people, session_id, world, app)
    assert (state["status"], state["phase"], state["turn"]) == ("live", "teaching", 1)
    first, second = turn_row(app, session_id, 0), turn_row(app, session_id, 1)
    assert first.ended_at == first.rating_ends_at == second.started_at == deadline
    assert (state["turns"][0]["rated"], state["turns"][0]["teacher_ready"]) == (
        done == "rated",
        done == "ready",
    )


@pytest.mark.parametrize(
    "ready_first", [False, True], ids=["rated-first", "ready-first"]
)
def test_the_last_turns_pause_completes_the_session(app, world, people, ready_first):
    session_id = new_session(world)  # Ann teaches 0, Ben 1 (the last)
    start_teaching(people, session_id)
    ok(people.ann.emit("finish_turn", {"session_id": session_id}))
    ok(people.ben.emit("rate", valid("rate", session_id)))
    ok(people.ann.emit("ready", valid("ready", session_id)))
    ok(people.ben.emit("finish_turn", {"session_id": session_id}))
    people.ann.take(), people.ben.take()
    steps = [
        (people.ann, "rate", valid("rate", session_id, turn=1)),
        (people.ben, "ready", valid("ready", session_id, turn=1)),
    ]
    if ready_first:
        steps.reverse()
    sock, event, payload = steps[0]
    ok(sock.emit(event, payload))
    state = pushed(people, session_id, world, app)
    assert (state["status"], state["phase"], state["turn"]) == ("live", "rating", 1)
    sock, event, payload = steps[1]
    ok(sock.emit(event, payload))
    state = pushed(people, session_id, world, app)
    assert (state["status"], state["phase"], state["phase_ends_at"]) == (
        "completed",
        "done",
        None,
    )
    assert state["reflecting"] == []
    session = load(app, TeachSession, session_id)
    assert (session.status, session.current_turn) == ("completed", 2)
    assert session.ended_at == turn_row(app, session_id, 1).ended_at is not None
    assert len(rows(app, Rating, Rating.session_id == session_id)) == 2
