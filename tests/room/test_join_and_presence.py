"""Joining the room: the snapshot in the ack, presence, the start, no-shows.

The room opens before the start; teaching starts at the start time when both
are present, otherwise as soon as both are (DESIGN §2). Whoever is still absent
at the no-show time makes a scheduled session `missed`; an extra session that
nobody ever joined ends `cancelled` instead.
"""

from __future__ import annotations

from datetime import timedelta

from ally.jobs import run_job
from ally.models import LiveSocket, SessionParticipant, TeachSession, utcnow
from ally.services import schedule
from tests.support.room import (
    LONG,
    change,
    check_snapshot,
    load,
    named,
    new_session,
    ok,
    rows,
    start_teaching,
    turn_row,
    utc,
)


def test_join_acks_the_full_snapshot_and_the_room_learns_of_each_arrival(
    app, world, people
):
    session_id = new_session(world)
    people.ben.take()  # the "session open" notification
    before = utcnow()
    ack = ok(people.ann.emit("join_session", {"session_id": session_id}))
    after = utcnow()
    assert set(ack) == {"ok", "state"}
    state = ack["state"]
    check_snapshot(app, state, session_id, world)
    assert before <= utc(state["server_time"]) <= after
    # Alone: the room waits for Ben, with no deadline set.
    assert (state["status"], state["phase"], state["turn"]) == ("open", "waiting", 0)
    assert state["phase_ends_at"] is None
    assert [(p["user_id"], p["online"]) for p in state["participants"]] == [
        (world.ann, True),
        (world.ben, False),
    ]
    assert [p["display_name"] for p in state["participants"]] == ["Ann", "Ben"]
    assert all(t["started_at"] is None for t in state["turns"])
    # Ann is in the room: she hears her own arrival; Ben, not in it, is told
    # through his own room that his partner is waiting.
    assert named(people.ann.take(), "presence") == [
        {"session_id": session_id, "user_id": world.ann, "online": True}
    ]
    ben_events = people.ben.take()
    assert named(ben_events, "presence") == []
    [note] = named(ben_events, "notification")
    assert note["kind"] == "partner_joined"
    assert note["url"] == f"/sessions/{session_id}"
    assert "Ann" in note["text"]
    assert people.cara.take() == []

    # Ben arrives after the start time: teaching starts at once.
    ack = ok(people.ben.emit("join_session", {"session_id": session_id}))
    state = ack["state"]
    check_snapshot(app, state, session_id, world)
    session = load(app, TeachSession, session_id)
    assert (state["status"], state["phase"], state["turn"]) == ("live", "teaching", 0)
    assert utc(state["phase_ends_at"]) == session.started_at + timedelta(seconds=LONG)
    assert utc(state["turns"][0]["started_at"]) == session.started_at
    assert utc(state["turns"][0]["teach_ends_at"]) == session.phase_ends_at
    assert [p["online"] for p in state["participants"]] == [True, True]
    for sock in (people.ann, people.ben):
        events = sock.take()
        assert named(events, "presence") == [
            {"session_id": session_id, "user_id": world.ben, "online": True}
        ]
        [pushed] = named(events, "session_state")
        check_snapshot(app, pushed, session_id, world)
        assert (pushed["phase"], pushed["version"]) == ("teaching", session.version)
        assert named(events, "notification") == []  # teaching: nobody to call
    assert people.cara.take() == []
    joined = {
        p.user_id: p.joined_at
        for p in rows(
            app, SessionParticipant, SessionParticipant.session_id == session_id
        )
    }
    assert set(joined) == {world.ann, world.ben}
    assert all(at is not None for at in joined.values())


def test_the_waiting_partner_is_called_once(app, world, people):
    session_id = new_session(world)
    people.ben.take()  # the "session open" notification
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    ok(people.ann.emit("leave_session", {"session_id": session_id}))
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    kinds = [n["kind"] for n in named(people.ben.take(), "notification")]
    assert kinds == ["partner_joined"]


def test_an_early_pair_waits_for_the_start_time(app, world, people):
    session_id = new_session(world, starts_in=300)
    starts_at = load(app, TeachSession, session_id).starts_at
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    state = ok(people.ben.emit("join_session", {"session_id": session_id}))["state"]
    # Both present, early: still waiting, the wait ends at the start time.
    assert (state["status"], state["phase"]) == ("open", "waiting")
    assert utc(state["phase_ends_at"]) == starts_at
    assert [p["online"] for p in state["participants"]] == [True, True]
    [pushed] = named(people.ann.take(), "session_state")
    assert utc(pushed["phase_ends_at"]) == starts_at
    assert turn_row(app, session_id, 0) is None  # nothing started

    # One leaves: the start is off again until both are back.
    people.ben.take()
    ok(people.ben.emit("leave_session", {"session_id": session_id}))
    assert load(app, TeachSession, session_id).phase_ends_at is None
    [pushed] = named(people.ann.take(), "session_state")
    assert pushed["phase_ends_at"] is None
    ok(people.ben.emit("join_session", {"session_id": session_id}))
    assert load(app, TeachSession, session_id).phase_ends_at == starts_at
    people.ann.take(), people.ben.take()

    # The deadline job starts teaching at the start time exactly.
    assert run_job("advance_phases", starts_at) == 1
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.started_at) == (
        "live",
        "teaching",
        starts_at,
    )
    assert session.phase_ends_at == starts_at + timedelta(seconds=LONG)
    for sock in (people.ann, people.ben):
        [pushed] = named(sock.take(), "session_state")
        assert (pushed["phase"], utc(pushed["turns"][0]["started_at"])) == (
            "teaching",
            starts_at,
        )


def test_presence_follows_leave_other_tabs_and_disconnects(
    app, world, people, token_socket
):
    session_id = new_session(world)
    start_teaching(people, session_id)
    gone = {"session_id": session_id, "user_id": world.ben, "online": False}
    back = {"session_id": session_id, "user_id": world.ben, "online": True}

    ack = ok(people.ben.emit("leave_session", {"session_id": session_id}))
    assert ack == {"ok": True}
    assert named(people.ann.take(), "presence") == [gone]
    assert people.ben.take() == []  # out of the room: hears nothing more from it
    [row] = rows(app, LiveSocket, LiveSocket.sid == people.ben.sid)
    assert row.session_id is None
    # Leaving does not stop the clock of a live turn.
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.current_turn) == (
        "live",
        "teaching",
        0,
    )

    ok(people.ben.emit("join_session", {"session_id": session_id}))
    assert named(people.ann.take(), "presence") == [back]
    # A second tab of Ben's in the room: closing one tab is not leaving.
    tab = token_socket(world.ben)
    ok(tab.emit("join_session", {"session_id": session_id}))
    assert named(people.ann.take(), "presence") == [back]
    ok(people.ben.emit("leave_session", {"session_id": session_id}))
    assert named(people.ann.take(), "presence") == []
    tab_sid = tab.sid
    assert [r.session_id for r in rows(app, LiveSocket, LiveSocket.sid == tab_sid)] == [
        session_id
    ]
    tab.disconnect()
    assert named(people.ann.take(), "presence") == [gone]
    assert rows(app, LiveSocket, LiveSocket.sid == tab_sid) == []

    # Ann's connection drops: Ben's room learns it.
    ok(people.ben.emit("join_session", {"session_id": session_id}))
    people.ben.take()
    ann_sid = people.ann.sid
    assert len(rows(app, LiveSocket, LiveSocket.sid == ann_sid)) == 1
    people.ann.disconnect()
    assert named(people.ben.take(), "presence") == [
        {"session_id": session_id, "user_id": world.ann, "online": False}
    ]
    assert rows(app, LiveSocket, LiveSocket.sid == ann_sid) == []


def test_presence_stays_true_to_a_socket_that_joins_a_second_session(
    app, world, people
):
    first = new_session(world)
    # Another room of the same pair: a meeting of their schedule (a second
    # extra session is refused while the first is under way).
    later = (utcnow() + timedelta(days=3)).date()
    second = schedule.ensure_session(world.ann, world.pair, later).id
    start_teaching(people, first)
    ok(people.ann.emit("join_session", {"session_id": second}))
    ben_events = people.ben.take()
    ok(people.ben.emit("signal", {"session_id": first, "kind": "lost"}))
    ann_heard_signal = bool(named(people.ann.take(), "signal"))
    state = ok(people.ben.emit("join_session", {"session_id": first}))["state"]
    ann_online = state["participants"][0]["online"]
    if ann_online:
        # One socket in two rooms: it still hears the first one.
        assert ann_heard_signal
    else:
        # One room per socket: the first room was told, and is not heard any more.
        assert {"session_id": first, "user_id": world.ann, "online": False} in named(
            ben_events, "presence"
        )
        assert not ann_heard_signal


# --- no-shows ---------------------------------------------------------------------


def no_show_time(app, session_id: int):
    grace = timedelta(minutes=int(app.config["ALLY_NO_SHOW_MINUTES"]))
    return load(app, TeachSession, session_id).starts_at + grace


def absences(app, session_id: int) -> dict[int, bool]:
    return {
        p.user_id: p.absent
        for p in rows(
            app, SessionParticipant, SessionParticipant.session_id == session_id
        )
    }


def test_an_extra_session_nobody_joined_ends_cancelled_not_missed(app, world, people):
    session_id = new_session(world)
    due = no_show_time(app, session_id)
    assert run_job("mark_no_shows", due - timedelta(seconds=1)) == 0
    assert load(app, TeachSession, session_id).status == "open"

    assert run_job("mark_no_shows", due) == 1
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.ended_at) == (
        "cancelled",
        "done",
        due,
    )
    # Only scheduled meetings count against attendance: nobody is absent.
    assert not any(absences(app, session_id).values())
    assert run_job("mark_no_shows", due + timedelta(minutes=1)) == 0  # once
    # Opening the room afterwards shows it over, and changes nothing.
    state = ok(people.ann.emit("join_session", {"session_id": session_id}))["state"]
    check_snapshot(app, state, session_id, world)
    assert (state["status"], state["phase"]) == ("cancelled", "done")
    assert not any(absences(app, session_id).values())


def test_an_extra_session_nobody_joined_is_cancelled_by_a_late_event_too(
    app, world, people
):
    # The job has not run yet: the first event after the no-show time settles it.
    session_id = new_session(world)
    starts_at = utcnow() - timedelta(minutes=int(app.config["ALLY_NO_SHOW_MINUTES"]))
    change(app, TeachSession, session_id, starts_at=starts_at - timedelta(seconds=1))
    state = ok(people.ann.emit("join_session", {"session_id": session_id}))["state"]
    assert (state["status"], state["phase"]) == ("cancelled", "done")
    assert load(app, TeachSession, session_id).status == "cancelled"
    assert not any(absences(app, session_id).values())


def test_an_extra_session_one_partner_joined_is_missed_by_the_other(app, world, people):
    session_id = new_session(world)
    ok(people.ann.emit("join_session", {"session_id": session_id}))
    people.ann.take()
    due = no_show_time(app, session_id)
    assert run_job("mark_no_shows", due) == 1
    session = load(app, TeachSession, session_id)
    assert (session.status, session.phase, session.ended_at) == ("missed", "done", due)
    # Ben never came in: his absence is recorded; Ann was there.
    assert absences(app, session_id) == {world.ann: False, world.ben: True}
    [state] = named(people.ann.take(), "session_state")
    assert (state["status"], state["phase"], state["phase_ends_at"]) == (
        "missed",
        "done",
        None,
    )
    assert state["topic_turns"] == {str(world.ann): None, str(world.ben): None}


def test_a_scheduled_session_nobody_joined_is_missed_by_both(app, world):
    later = (utcnow() + timedelta(days=3)).date()
    session_id = schedule.ensure_session(world.ann, world.pair, later).id
    assert load(app, TeachSession, session_id).kind != "extra"
    assert run_job("mark_no_shows", no_show_time(app, session_id)) == 1
    assert load(app, TeachSession, session_id).status == "missed"
    assert absences(app, session_id) == {world.ann: True, world.ben: True}
