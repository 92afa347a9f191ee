"""The teach-back room's clock, owned by the server (DESIGN.md §2, §5, §6).

Jobs run through `ally.jobs.run_job(name, now)` at fixed instants on Tuesday
2026-03-10 (London is on GMT until the 29th, so 18:00 London is 18:00 UTC). A
default session is 60 minutes: 4 turns of 12 minutes teaching and 3 minutes
rating, so turn i starts at 18:00 + 15·i min and the hour ends at 19:00. Every
expected instant is written out, so a deadline taken from `now` instead of the
stored deadline shows up as a wrong timestamp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from ally.domain import room as rules
from ally.extensions import db, socketio
from ally.jobs import run_job
from ally.models import Partnership, SessionParticipant, TeachSession, Turn, User
from ally.realtime import room_events
from ally.services import (
    accounts,
    partners,
    profiles,
    room,
    schedule,
)
from ally.services.room import clock as room_clock
from ally.services.room import events as room_events_service
from ally.services.room import presence
from tests.conftest import PASSWORD, Browser

LONDON = "Europe/London"
CREATED = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # a Saturday, 3 days before
TEACH, RATE = 720, 180


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 3, 10, hour, minute, second, micro, tzinfo=UTC)


def sec(n: float) -> timedelta:
    return timedelta(seconds=n)


# --- helpers -----------------------------------------------------------------


def new_pair(a: str = "Ana", b: str = "Ben") -> tuple[User, User, Partnership]:
    """Two London users and their partnership, meeting daily at 18:00 London.

    Built through the services only (no fixture), so it works on any backend.
    The partnership exists since CREATED: meetings before that are never made.
    """
    users = []
    for name in (a, b):
        user = accounts.register(f"{name.lower()}@example.com", PASSWORD, name, LONDON)
        profiles.update_profile(
            user.id, {"availability": [{"start": "18:00", "end": "22:00"}]}
        )
        users.append(user)
    request = partners.send_request(users[0].id, users[1].id, "", CREATED)
    partnership = partners.accept_request(users[1].id, request.id, CREATED)
    partnership.created_at = CREATED
    partnership.daily_minute = 18 * 60
    partnership.timezone = LONDON
    db.session.commit()
    return users[0], users[1], partnership


def the_session(partnership: Partnership) -> TeachSession:
    """The partnership's session, freshly loaded (nothing cached)."""
    db.session.expire_all()
    session = db.session.scalar(
        select(TeachSession).where(TeachSession.partnership_id == partnership.id)
    )
    assert session is not None
    return session


def open_room(partnership: Partnership) -> TeachSession:
    """Materialize and open today's 18:00 session (the room opens at 17:50)."""
    assert run_job("open_sessions", at(17, 55)) == 2  # created + opened
    session = the_session(partnership)
    assert (session.starts_at, session.status, session.phase) == (
        at(18),
        "open",
        "waiting",
    )
    assert (session.turns, session.teach_seconds, session.rate_seconds) == (
        4,
        TEACH,
        RATE,
    )
    return session


def came(session: TeachSession, user: User, when: datetime) -> None:
    """A partner entered the room at `when` (attendance only)."""
    db.session.execute(
        update(SessionParticipant)
        .where(
            SessionParticipant.session_id == session.id,
            SessionParticipant.user_id == user.id,
        )
        .values(joined_at=when)
    )
    db.session.commit()


def both_came_early(partnership: Partnership) -> TeachSession:
    """Both partners are in the room before 18:00: the start is armed.

    Stores exactly what `domain.room.both_present` decides for an early pair
    (status open, phase waiting, phase_ends_at == starts_at) with the same
    compare-and-set the services use.
    """
    when = at(17, 56)
    session = open_room(partnership)
    for user_id in session.member_ids():
        came(session, db.session.get(User, user_id), when)
    new, steps = rules.both_present(room_clock.room_of(session), when)
    assert [s.kind for s in steps] == ["armed"]
    assert room_clock.save_room(session, new, steps)
    db.session.commit()
    session = the_session(partnership)
    assert state(session) == ("open", "waiting", 0, at(18))
    return session


def state(session: TeachSession) -> tuple:
    return (session.status, session.phase, session.current_turn, session.phase_ends_at)


def absences(session: TeachSession) -> dict[int, bool]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(SessionParticipant).where(SessionParticipant.session_id == session.id)
    )
    return {p.user_id: p.absent for p in rows}


def turn_rows(session: TeachSession) -> list[tuple]:
    """(index, teacher, listener, started, teach_ends, rating_ends, ended)."""
    db.session.expire_all()
    return [
        (
            t.index,
            t.teacher_id,
            t.listener_id,
            t.started_at,
            t.teach_ends_at,
            t.rating_ends_at,
            t.ended_at,
        )
        for t in db.session.scalars(
            select(Turn).where(Turn.session_id == session.id).order_by(Turn.index)
        )
    ]


def hour_turns(session: TeachSession, upto: datetime) -> list[tuple]:
    """The Turn rows of an undisturbed 18:00 hour as they stand at `upto`.

    Turn i starts at 18:00 + 15 i min; teaching ends 12 minutes later, rating 3
    minutes after that. Teachers alternate from the session's first teacher. A
    row exists once its turn has started; rating_ends_at and ended_at hold
    actual instants once those phases have ended.
    """
    pair = (session.first_teacher_id, session.second_teacher_id)
    rows = []
    for i in range(session.turns):
        start = at(18) + timedelta(minutes=15 * i)
        if start > upto:
            break
        teach_end = start + sec(TEACH)
        rate_end = teach_end + sec(RATE)
        rows.append(
            (
                i,
                pair[i % 2],
                pair[1 - i % 2],
                start,
                teach_end,
                rate_end if teach_end <= upto else None,
                rate_end if rate_end <= upto else None,
            )
        )
    return rows


# --- no-shows ----------------------------------------------------------------


@pytest.mark.parametrize("grace", [10, 15])
def test_nobody_came_the_session_is_missed_exactly_at_the_grace_time(app, grace):
    app.config["ALLY_NO_SHOW_MINUTES"] = grace
    ana, ben, p = new_pair()
    session = open_room(p)
    version = session.version
    deadline = at(18) + timedelta(minutes=grace)

    assert run_job("mark_no_shows", deadline - sec(1)) == 0
    assert run_job("mark_no_shows", deadline - sec(0.000001)) == 0
    session = the_session(p)
    assert state(session) == ("open", "waiting", 0, None)
    assert (session.ended_at, session.version) == (None, version)
    assert absences(session) == {ana.id: False, ben.id: False}

    assert run_job("mark_no_shows", deadline) == 1
    session = the_session(p)
    assert state(session) == ("missed", "done", 0, None)
    assert session.ended_at == deadline
    assert session.started_at is None
    assert session.version == version + 1
    assert absences(session) == {ana.id: True, ben.id: True}
    assert turn_rows(session) == []

    # Settled: neither job touches it again.
    assert run_job("mark_no_shows", deadline + timedelta(hours=1)) == 0
    assert run_job("advance_phases", deadline + timedelta(hours=1)) == 0
    assert the_session(p).version == version + 1


def test_one_partner_came_only_the_other_is_absent(app):
    ana, ben, p = new_pair()
    session = open_room(p)
    came(session, ana, at(17, 58))

    assert run_job("mark_no_shows", at(18, 9, 59)) == 0
    assert the_session(p).status == "open"
    assert run_job("mark_no_shows", at(18, 10)) == 1
    session = the_session(p)
    assert state(session) == ("missed", "done", 0, None)
    assert session.ended_at == at(18, 10)
    assert absences(session) == {ana.id: False, ben.id: True}
    joined = db.session.get(SessionParticipant, (session.id, ana.id)).joined_at
    assert joined == at(17, 58)


def test_both_came_early_is_no_no_show_and_teaching_starts_at_the_start(app):
    ana, ben, p = new_pair()
    session = both_came_early(p)
    version = session.version

    assert run_job("mark_no_shows", at(18, 10)) == 0
    session = the_session(p)
    assert state(session) == ("open", "waiting", 0, at(18))
    assert absences(session) == {ana.id: False, ben.id: False}

    # The deadline job runs late (12 minutes): teaching began at 18:00 and the
    # 18:12 end of teaching is replayed too, each at its stored instant.
    assert run_job("advance_phases", at(18, 12)) == 1
    session = the_session(p)
    assert state(session) == ("live", "rating", 0, at(18, 15))
    assert session.started_at == at(18)
    assert session.ended_at is None
    assert session.version == version + 1  # one compare-and-set for both steps
    first, second = session.first_teacher_id, session.second_teacher_id
    assert {first, second} == {ana.id, ben.id}
    assert turn_rows(session) == [
        (0, first, second, at(18), at(18, 12), at(18, 15), None)
    ]
    assert turn_rows(session) == hour_turns(session, at(18, 12))

    # A live session is never a no-show, however late the job looks.
    assert run_job("mark_no_shows", at(18, 20)) == 0
    assert the_session(p).status == "live"
    assert absences(session) == {ana.id: False, ben.id: False}


def extra_at_eight(partnership: Partnership, user: User) -> TeachSession:
    """An extra session started by `user` at 20:00 (open, waiting)."""
    session = schedule.create_extra_session(user.id, partnership.id, at(20))
    assert (session.kind, session.status, session.phase, session.starts_at) == (
        "extra",
        "open",
        "waiting",
        at(20),
    )
    return session


def test_an_extra_session_nobody_joined_is_cancelled_not_missed(app):
    """DESIGN.md §2: only scheduled meetings count against attendance."""
    ana, ben, p = new_pair()
    session = extra_at_eight(p, ana)
    version = session.version

    assert run_job("mark_no_shows", at(20, 9, 59)) == 0
    assert state(the_session(p)) == ("open", "waiting", 0, None)

    # The job runs late: the end is stamped at 20:10, when it fell due.
    assert run_job("mark_no_shows", at(20, 10, 30)) == 1
    session = the_session(p)
    assert state(session) == ("cancelled", "done", 0, None)
    assert (session.ended_at, session.started_at) == (at(20, 10), None)
    assert session.version == version + 1
    assert absences(session) == {ana.id: False, ben.id: False}
    assert turn_rows(session) == []

    assert run_job("mark_no_shows", at(21)) == 0
    assert run_job("advance_phases", at(21)) == 0
    assert the_session(p).version == version + 1


def test_an_extra_session_one_partner_joined_is_missed(app):
    ana, ben, p = new_pair()
    session = extra_at_eight(p, ana)
    came(session, ben, at(20, 1))

    assert run_job("mark_no_shows", at(20, 10)) == 1
    session = the_session(p)
    assert state(session) == ("missed", "done", 0, None)
    assert session.ended_at == at(20, 10)
    assert absences(session) == {ana.id: True, ben.id: False}


def test_a_late_arrival_finds_an_extra_session_nobody_joined_cancelled(
    app, monkeypatch
):
    """No job ran: the arrival's own event applies the no-show first, as
    cancelled, and the late arrival is not recorded as having joined."""
    monkeypatch.setattr(room_events_service, "enter_session_room", lambda *a: None)
    ana, ben, p = new_pair()
    session_id = extra_at_eight(p, ana).id
    presence.register_socket("sid-ben", ben.id, ben.auth_version, "test", at(20))
    ack = room.join(ben.id, session_id, "sid-ben", at(20, 10, 5))
    assert (ack["status"], ack["phase"]) == ("cancelled", "done")
    session = the_session(p)
    assert (session.status, session.ended_at) == ("cancelled", at(20, 10))
    joined = {x.user_id: x.joined_at for x in session.participants}
    assert joined == {ana.id: None, ben.id: None}
    assert absences(session) == {ana.id: False, ben.id: False}
    assert run_job("mark_no_shows", at(20, 15)) == 0


# --- the room clock ----------------------------------------------------------

# deadline -> (status, phase, current_turn, phase_ends_at) once it has passed
HOUR = [
    (at(18), ("live", "teaching", 0, at(18, 12))),
    (at(18, 12), ("live", "rating", 0, at(18, 15))),
    (at(18, 15), ("live", "teaching", 1, at(18, 27))),
    (at(18, 27), ("live", "rating", 1, at(18, 30))),
    (at(18, 30), ("live", "teaching", 2, at(18, 42))),
    (at(18, 42), ("live", "rating", 2, at(18, 45))),
    (at(18, 45), ("live", "teaching", 3, at(18, 57))),
    (at(18, 57), ("live", "rating", 3, at(19))),
    (at(19), ("completed", "done", 4, None)),
]


def test_a_live_hour_moves_exactly_at_every_deadline(app):
    ana, ben, p = new_pair()
    session = both_came_early(p)
    first, second = session.first_teacher_id, session.second_teacher_id
    previous, version = state(session), session.version

    for deadline, expected in HOUR:
        assert run_job("advance_phases", deadline - sec(1)) == 0
        assert run_job("advance_phases", deadline - sec(0.000001)) == 0
        session = the_session(p)
        assert (state(session), session.version) == (previous, version)

        assert run_job("advance_phases", deadline) == 1, deadline
        session = the_session(p)
        assert state(session) == expected, deadline
        assert session.version == version + 1
        assert turn_rows(session) == hour_turns(session, deadline), deadline
        assert run_job("advance_phases", deadline) == 0  # and only once
        previous, version = expected, version + 1

    session = the_session(p)
    assert (session.started_at, session.ended_at) == (at(18), at(19))
    assert turn_rows(session) == [
        (0, first, second, at(18), at(18, 12), at(18, 15), at(18, 15)),
        (1, second, first, at(18, 15), at(18, 27), at(18, 30), at(18, 30)),
        (2, first, second, at(18, 30), at(18, 42), at(18, 45), at(18, 45)),
        (3, second, first, at(18, 45), at(18, 57), at(19), at(19)),
    ]
    assert run_job("advance_phases", at(21)) == 0
    assert run_job("mark_no_shows", at(21)) == 0
    assert the_session(p).version == version


def test_a_run_one_second_late_applies_each_deadline_at_its_stored_instant(app):
    ana, ben, p = new_pair()
    session = both_came_early(p)

    assert run_job("advance_phases", at(18, 0, 1)) == 1
    session = the_session(p)
    assert state(session) == ("live", "teaching", 0, at(18, 12))
    assert session.started_at == at(18)

    assert run_job("advance_phases", at(18, 12, 1)) == 1
    assert state(the_session(p)) == ("live", "rating", 0, at(18, 15))

    assert run_job("advance_phases", at(18, 15, 1)) == 1
    session = the_session(p)
    assert state(session) == ("live", "teaching", 1, at(18, 27))
    assert turn_rows(session) == hour_turns(session, at(18, 15))

    # A microsecond late is late too, and still lands on the stored instant.
    assert run_job("advance_phases", at(18, 27, 0, 1)) == 1
    session = the_session(p)
    assert state(session) == ("live", "rating", 1, at(18, 30))
    assert turn_rows(session) == hour_turns(session, at(18, 27))


@pytest.mark.parametrize(
    ("back_at", "expected"),
    [
        pytest.param(at(18, 20), ("live", "teaching", 1, at(18, 27)), id="mid-turn"),
        pytest.param(at(18, 28), ("live", "rating", 1, at(18, 30)), id="mid-rating"),
        pytest.param(at(21, 30), ("completed", "done", 4, None), id="after-the-end"),
    ],
)
def test_a_restarted_scheduler_replays_what_it_missed(app, back_at, expected):
    ana, ben, p = new_pair()
    both_came_early(p)
    assert run_job("advance_phases", at(18)) == 1
    version = the_session(p).version

    # Down from 18:00 until back_at: one run catches up, in one write.
    assert run_job("advance_phases", back_at) == 1
    session = the_session(p)
    assert state(session) == expected
    assert session.version == version + 1
    assert session.started_at == at(18)
    assert session.ended_at == (at(19) if expected[0] == "completed" else None)
    assert turn_rows(session) == hour_turns(session, back_at)

    assert run_job("advance_phases", back_at) == 0
    assert the_session(p).version == version + 1


def test_a_short_extra_session_runs_to_completion_by_deadlines_alone(app, monkeypatch):
    app.config.update(ALLY_MIN_TEACH_SECONDS=1, ALLY_MIN_RATE_SECONDS=1)
    ana, ben, p = new_pair()
    t0 = at(20)
    session = schedule.create_extra_session(
        ana.id, p.id, t0, turns=2, teach_seconds=5, rate_seconds=2
    )
    session_id = session.id
    assert (session.status, session.phase, session.starts_at) == ("open", "waiting", t0)
    assert (session.first_teacher_id, session.second_teacher_id) == (ana.id, ben.id)

    # Both partners come in through the room service. Putting a socket into a
    # Socket.IO room needs a real connection (python-socketio looks the sid up
    # in its own tables), so only that transport call is replaced here; the
    # socket rows, presence and the both-present rule are the real ones.
    entered: list[tuple[str, int]] = []
    monkeypatch.setattr(
        room_events_service,
        "enter_session_room",
        lambda sid, session_id, user_id: entered.append((sid, session_id)),
    )
    presence.register_socket("sid-ana", ana.id, ana.auth_version, "test", t0)
    presence.register_socket("sid-ben", ben.id, ben.auth_version, "test", t0)
    room.join(ana.id, session_id, "sid-ana", t0 + sec(1))
    db.session.expire_all()
    # One partner alone starts nothing, and no deadline is set.
    assert state(db.session.get(TeachSession, session_id)) == (
        "open",
        "waiting",
        0,
        None,
    )
    room.join(ben.id, session_id, "sid-ben", t0 + sec(3))
    assert entered == [("sid-ana", session_id), ("sid-ben", session_id)]
    db.session.expire_all()
    session = db.session.get(TeachSession, session_id)
    # Both present after the start: teaching starts at once (t0 + 3 s).
    assert state(session) == ("live", "teaching", 0, t0 + sec(8))
    assert session.started_at == t0 + sec(3)
    joined = {p.user_id: p.joined_at for p in session.participants}
    assert joined == {ana.id: t0 + sec(1), ben.id: t0 + sec(3)}

    timeline = [
        (t0 + sec(8), ("live", "rating", 0, t0 + sec(10))),
        (t0 + sec(10), ("live", "teaching", 1, t0 + sec(15))),
        (t0 + sec(15), ("live", "rating", 1, t0 + sec(17))),
        (t0 + sec(17), ("completed", "done", 2, None)),
    ]
    for deadline, expected in timeline:
        assert run_job("advance_phases", deadline - sec(0.5)) == 0
        assert run_job("advance_phases", deadline) == 1
        db.session.expire_all()
        assert state(db.session.get(TeachSession, session_id)) == expected, deadline

    session = db.session.get(TeachSession, session_id)
    assert (session.started_at, session.ended_at) == (t0 + sec(3), t0 + sec(17))
    a, b = ana.id, ben.id
    assert turn_rows(session) == [
        (0, a, b, t0 + sec(3), t0 + sec(8), t0 + sec(10), t0 + sec(10)),
        (1, b, a, t0 + sec(10), t0 + sec(15), t0 + sec(17), t0 + sec(17)),
    ]
    assert absences(session) == {a: False, b: False}
    assert run_job("advance_phases", t0 + timedelta(hours=1)) == 0


def test_a_pause_that_waits_for_the_teacher_ends_at_its_deadline(app):
    """The listener rated at once, the teacher never said ready: the rating
    phase runs to its stored deadline, then the next turn starts (rated)."""
    ana, ben, p = new_pair()
    both_came_early(p)
    assert run_job("advance_phases", at(18, 12)) == 1  # rating 0 until 18:15
    session = the_session(p)
    listener = session.second_teacher_id
    room.rate(listener, session.id, 0, 4, None, None, at(18, 12, 30))
    session = the_session(p)
    assert state(session) == ("live", "rating", 0, at(18, 15))
    assert run_job("advance_phases", at(18, 14, 59)) == 0
    assert run_job("advance_phases", at(18, 15)) == 1
    session = the_session(p)
    assert state(session) == ("live", "teaching", 1, at(18, 27))
    assert turn_rows(session) == hour_turns(session, at(18, 15))


def test_a_pause_ended_by_both_moves_the_clock_from_that_instant(app):
    """Rated at 18:13, ready at 18:14: turn 1 starts at 18:14 and the job
    moves it on that stored deadline (18:26), not on the hour's plan."""
    ana, ben, p = new_pair()
    both_came_early(p)
    assert run_job("advance_phases", at(18, 12)) == 1
    session = the_session(p)
    teacher, listener = session.first_teacher_id, session.second_teacher_id
    room.rate(listener, session.id, 0, 4, None, None, at(18, 13))
    assert state(the_session(p)) == ("live", "rating", 0, at(18, 15))
    room.ready(teacher, session.id, 0, at(18, 14))
    session = the_session(p)
    assert state(session) == ("live", "teaching", 1, at(18, 26))
    assert turn_rows(session) == [
        (0, teacher, listener, at(18), at(18, 12), at(18, 14), at(18, 14)),
        (1, listener, teacher, at(18, 14), at(18, 26), None, None),
    ]
    assert run_job("advance_phases", at(18, 25, 59)) == 0
    assert run_job("advance_phases", at(18, 26)) == 1
    assert state(the_session(p)) == ("live", "rating", 1, at(18, 29))


# --- compare-and-set: racing writers -----------------------------------------


def test_a_change_between_the_jobs_load_and_save_wins(any_app, monkeypatch):
    ana, ben, p = new_pair()
    both_came_early(p)
    assert run_job("advance_phases", at(18)) == 1
    session = the_session(p)
    version, teacher = session.version, session.first_teacher_id
    listener = session.second_teacher_id

    original = room_clock._compare_and_set
    calls: list[int] = []

    def other_writer_first(session, new, steps):
        # The job has loaded the session (teaching, due 18:12) and decided.
        # Meanwhile, in another connection, the teacher's "done" at 18:05 is
        # committed: rating until 18:08.
        calls.append(session.version)
        with db.engine.begin() as connection:
            connection.execute(
                update(TeachSession)
                .where(TeachSession.id == session.id)
                .values(
                    phase="rating",
                    phase_ends_at=at(18, 8),
                    version=TeachSession.version + 1,
                )
            )
            connection.execute(
                update(Turn)
                .where(Turn.session_id == session.id, Turn.index == 0)
                .values(teach_ends_at=at(18, 5), rating_ends_at=at(18, 8))
            )
        return original(session, new, steps)

    monkeypatch.setattr(room_clock, "_compare_and_set", other_writer_first)
    assert run_job("advance_phases", at(18, 12)) == 0
    assert calls == [version]  # the job did try, from the state it had loaded

    session = the_session(p)
    assert state(session) == ("live", "rating", 0, at(18, 8))
    assert session.version == version + 1  # the other writer's bump only
    # The job's own turn writes (teaching ended 18:12) went nowhere.
    assert turn_rows(session) == [
        (0, teacher, listener, at(18), at(18, 5), at(18, 8), None)
    ]

    # The next run goes on from the winner's state: rating ended at 18:08.
    monkeypatch.setattr(room_clock, "_compare_and_set", original)
    assert run_job("advance_phases", at(18, 12)) == 1
    session = the_session(p)
    assert state(session) == ("live", "teaching", 1, at(18, 20))
    assert session.version == version + 2
    assert turn_rows(session) == [
        (0, teacher, listener, at(18), at(18, 5), at(18, 8), at(18, 8)),
        (1, listener, teacher, at(18, 8), at(18, 20), None, None),
    ]


def test_two_schedulers_at_the_same_instant_make_one_transition(any_app, monkeypatch):
    ana, ben, p = new_pair()
    both_came_early(p)
    assert run_job("advance_phases", at(18)) == 1
    version = the_session(p).version
    db.session.commit()  # nothing of ours holds a lock while they race

    # Hold each job thread between its load and its save until both are there,
    # so both decide from the same stored state (the race a second scheduler
    # makes). If the code serialized the two, the wait would time out.
    original = room_clock._compare_and_set
    barrier = threading.Barrier(2)
    loaded: list[int] = []

    def save_when_both_decided(session, new, steps):
        loaded.append(session.version)
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass
        return original(session, new, steps)

    monkeypatch.setattr(room_clock, "_compare_and_set", save_when_both_decided)
    results: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with any_app.app_context():
                results.append(run_job("advance_phases", at(18, 20)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a job thread hung"
    assert not errors, errors

    assert loaded == [version, version]  # both raced from the same state
    assert sorted(results) == [0, 1]
    session = the_session(p)
    assert state(session) == ("live", "teaching", 1, at(18, 27))
    assert session.version == version + 1
    assert turn_rows(session) == hour_turns(session, at(18, 20))


# --- publishing the snapshot -------------------------------------------------


@pytest.fixture
def sockets(app: Flask) -> Iterator[Callable[[FlaskClient], object]]:
    """Socket.IO test clients, each connected with a logged-in test client."""
    opened = []

    def connect(flask_client: FlaskClient):
        with app.app_context():
            sock = socketio.test_client(app, flask_test_client=flask_client)
        assert sock.is_connected()
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        if sock.is_connected():
            with app.app_context():
                sock.disconnect()


def logged_in(app: Flask, user: User) -> FlaskClient:
    # A fresh app context per login: Flask-Login caches the user on `g`, which
    # would otherwise be shared with the test's own context.
    with app.app_context():
        browser = Browser(app.test_client())
        assert browser.login(user.email).status_code == 302
    return browser.client


def join_session(app: Flask, sock, session_id: int) -> dict:
    with app.app_context():
        return sock.emit("join_session", {"session_id": session_id}, callback=True)


def states(sock) -> list[dict]:
    return [
        event["args"][0]
        for event in sock.get_received()
        if event["name"] == "session_state"
    ]


def test_each_transition_is_pushed_to_the_sessions_room(app, sockets, monkeypatch):
    ana, ben, p = new_pair()
    cara = accounts.register("cara@example.com", PASSWORD, "Cara", LONDON)
    session = open_room(p)
    session_id = session.id
    first, second = session.first_teacher_id, session.second_teacher_id
    # The socket handlers read the wall clock; pin it to 17:58 on the day.
    monkeypatch.setattr(room_events, "utcnow", lambda: at(17, 58))

    ana_sock = sockets(logged_in(app, ana))
    ben_sock = sockets(logged_in(app, ben))
    cara_sock = sockets(logged_in(app, cara))  # not a member of this session
    ack = join_session(app, ana_sock, session_id)
    assert ack["ok"] is True
    assert ack["state"]["session_id"] == session_id
    assert (ack["state"]["status"], ack["state"]["phase"]) == ("open", "waiting")
    ack = join_session(app, ben_sock, session_id)
    assert ack["ok"] is True
    # Both in before 18:00: armed for the start time, teaching not begun.
    assert ack["state"]["phase"] == "waiting"
    assert ack["state"]["phase_ends_at"] == at(18).isoformat()
    for sock in (ana_sock, ben_sock, cara_sock):
        sock.get_received()  # drop what joining sent
    # The handlers wrote through their own sessions; a scheduler run starts
    # with a fresh one, so forget what this test's session still holds.
    db.session.expire_all()

    assert run_job("advance_phases", at(18)) == 1
    for sock in (ana_sock, ben_sock):
        [pushed] = states(sock)
        assert pushed["session_id"] == session_id
        assert (pushed["status"], pushed["phase"], pushed["turn"]) == (
            "live",
            "teaching",
            0,
        )
        assert pushed["server_time"] == "2026-03-10T18:00:00+00:00"
        assert pushed["starts_at"] == "2026-03-10T18:00:00+00:00"
        assert pushed["phase_ends_at"] == "2026-03-10T18:12:00+00:00"
        turn = pushed["turns"][0]
        assert (turn["teacher_id"], turn["listener_id"]) == (first, second)
        assert (turn["started_at"], turn["teach_ends_at"]) == (
            "2026-03-10T18:00:00+00:00",
            "2026-03-10T18:12:00+00:00",
        )
        assert {x["user_id"]: x["online"] for x in pushed["participants"]} == {
            ana.id: True,
            ben.id: True,
        }
    assert states(cara_sock) == []

    # Nothing due: nothing pushed.
    assert run_job("advance_phases", at(18, 11, 59)) == 0
    assert states(ana_sock) == []

    # A late run pushes one snapshot with the stored deadlines.
    assert run_job("advance_phases", at(18, 12, 30)) == 1
    [pushed] = states(ana_sock)
    assert (pushed["phase"], pushed["turn"]) == ("rating", 0)
    assert pushed["server_time"] == "2026-03-10T18:12:30+00:00"
    assert pushed["phase_ends_at"] == "2026-03-10T18:15:00+00:00"
    assert pushed["turns"][0]["teach_ends_at"] == "2026-03-10T18:12:00+00:00"
    assert pushed["turns"][0]["rating_ends_at"] == "2026-03-10T18:15:00+00:00"
    assert len(states(ben_sock)) == 1
    assert states(cara_sock) == []


def test_a_no_show_is_pushed_to_whoever_is_in_the_room(app, sockets, monkeypatch):
    ana, ben, p = new_pair()
    session_id = open_room(p).id
    monkeypatch.setattr(room_events, "utcnow", lambda: at(17, 58))
    ana_sock = sockets(logged_in(app, ana))
    assert join_session(app, ana_sock, session_id)["ok"] is True
    ana_sock.get_received()

    assert run_job("mark_no_shows", at(18, 10)) == 1
    [pushed] = states(ana_sock)
    assert (pushed["status"], pushed["phase"], pushed["phase_ends_at"]) == (
        "missed",
        "done",
        None,
    )
    assert pushed["server_time"] == "2026-03-10T18:10:00+00:00"
    assert absences(the_session(p)) == {ana.id: False, ben.id: True}
