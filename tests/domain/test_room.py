"""The room's state machine: every transition, every refusal, replayed deadlines.

Instants are fixed (a Tuesday evening in London, 18:00 UTC) and every expected
instant is written out from the phase lengths, so a deadline computed from
`now` instead of from the stored deadline shows up as a wrong timestamp.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ally.domain import room as rules
from ally.domain.room import (
    Room,
    RoomError,
    Step,
    advance,
    both_present,
    cancel,
    finish_turn,
    no_show,
    open_room,
    rated,
    role_of,
    settle,
    someone_left,
    teacher_ready,
    topic_turn,
)

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
TEACH = 720
RATE = 180
OPENS = timedelta(minutes=10)
GRACE = timedelta(minutes=10)


def sec(n: float) -> timedelta:
    return timedelta(seconds=n)


def make_room(**changes) -> Room:
    """A scheduled 4-turn room starting at START (12 min teach, 3 min rate)."""
    base = Room(
        status="scheduled",
        phase="waiting",
        turn=0,
        turns=4,
        teach_seconds=TEACH,
        rate_seconds=RATE,
        starts_at=START,
        phase_ends_at=None,
    )
    return replace(base, **changes)


def teaching(turn: int, ends: datetime, **changes) -> Room:
    return make_room(
        status="live", phase="teaching", turn=turn, phase_ends_at=ends, **changes
    )


def rating(turn: int, ends: datetime, **changes) -> Room:
    return make_room(
        status="live", phase="rating", turn=turn, phase_ends_at=ends, **changes
    )


def over(status: str) -> Room:
    return make_room(status=status, phase="done")


def _name(room: Room) -> str:
    return f"{room.status}-{room.phase}"


ARMED = make_room(status="open", phase_ends_at=START)
OPEN = make_room(status="open")
SCHEDULED = make_room()
COMPLETED = make_room(status="completed", phase="done", turn=4)
MISSED = over("missed")
CANCELLED = over("cancelled")


# --- open_room ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "now", "after", "steps"),
    [
        pytest.param(SCHEDULED, START - OPENS - sec(1), SCHEDULED, [], id="too-early"),
        pytest.param(
            SCHEDULED,
            START - OPENS,
            OPEN,
            [Step("opened", 0, START - OPENS)],
            id="at-opening-time",
        ),
        pytest.param(
            SCHEDULED,
            START + sec(30),
            OPEN,
            [Step("opened", 0, START + sec(30))],
            id="late-run",
        ),
        pytest.param(OPEN, START, OPEN, [], id="already-open"),
        pytest.param(ARMED, START, ARMED, [], id="armed"),
        pytest.param(
            teaching(0, START + sec(TEACH)),
            START + sec(5),
            teaching(0, START + sec(TEACH)),
            [],
            id="live",
        ),
        pytest.param(MISSED, START, MISSED, [], id="missed"),
        pytest.param(CANCELLED, START, CANCELLED, [], id="cancelled"),
        pytest.param(COMPLETED, START, COMPLETED, [], id="completed"),
    ],
)
def test_open_room(before, now, after, steps):
    assert open_room(before, now, OPENS) == (after, steps)


# --- both_present / someone_left ---------------------------------------------


@pytest.mark.parametrize(
    ("before", "now", "after", "steps"),
    [
        pytest.param(
            OPEN,
            START - sec(120),
            ARMED,
            [Step("armed", 0, START - sec(120))],
            id="early-arms-the-start",
        ),
        pytest.param(
            SCHEDULED,
            START - sec(3600),
            ARMED,
            [Step("armed", 0, START - sec(3600))],
            id="early-before-opening-opens-and-arms",
        ),
        pytest.param(ARMED, START - sec(60), ARMED, [], id="already-armed"),
        pytest.param(
            OPEN,
            START,
            teaching(0, START + sec(TEACH)),
            [Step("teaching_started", 0, START)],
            id="at-start",
        ),
        pytest.param(
            OPEN,
            START + sec(240),
            teaching(0, START + sec(240 + TEACH)),
            [Step("teaching_started", 0, START + sec(240))],
            id="late-starts-now",
        ),
        pytest.param(
            ARMED,
            START + sec(1),
            teaching(0, START + sec(1 + TEACH)),
            [Step("teaching_started", 0, START + sec(1))],
            id="armed-and-start-passed",
        ),
        pytest.param(
            teaching(1, START + sec(2000)),
            START + sec(1500),
            teaching(1, START + sec(2000)),
            [],
            id="rejoin-while-teaching",
        ),
        pytest.param(
            rating(1, START + sec(2000)),
            START + sec(1900),
            rating(1, START + sec(2000)),
            [],
            id="rejoin-while-rating",
        ),
    ],
)
def test_both_present(before, now, after, steps):
    assert both_present(before, now) == (after, steps)


@pytest.mark.parametrize("room", [MISSED, CANCELLED, COMPLETED], ids=_name)
def test_both_present_in_a_room_that_is_over_is_refused(room):
    with pytest.raises(RoomError) as caught:
        both_present(room, START)
    assert caught.value.code == "wrong_phase"


@pytest.mark.parametrize(
    ("before", "after", "steps"),
    [
        pytest.param(ARMED, OPEN, [Step("disarmed", 0, START - sec(30))], id="disarms"),
        pytest.param(OPEN, OPEN, [], id="not-armed"),
        pytest.param(SCHEDULED, SCHEDULED, [], id="scheduled"),
        pytest.param(
            teaching(0, START + sec(TEACH)),
            teaching(0, START + sec(TEACH)),
            [],
            id="teaching-goes-on",
        ),
        pytest.param(
            rating(2, START + sec(2000)),
            rating(2, START + sec(2000)),
            [],
            id="rating-goes-on",
        ),
        pytest.param(MISSED, MISSED, [], id="missed"),
        pytest.param(COMPLETED, COMPLETED, [], id="completed"),
    ],
)
def test_someone_left(before, after, steps):
    assert someone_left(before, START - sec(30)) == (after, steps)


def test_leaving_and_coming_back_rearms():
    left, _ = someone_left(ARMED, START - sec(200))
    back, steps = both_present(left, START - sec(100))
    assert back == ARMED
    assert steps == [Step("armed", 0, START - sec(100))]


# --- finish_turn / rated -----------------------------------------------------


@pytest.mark.parametrize("turn", [0, 1, 2, 3])
def test_finish_turn_ends_teaching_now(turn):
    now = START + sec(100)
    after, steps = finish_turn(teaching(turn, START + sec(TEACH)), now)
    assert after == rating(turn, now + sec(RATE))
    assert steps == [Step("teaching_ended", turn, now)]


# The pause's end, by turn: (turn, turns, the room after it, its steps at `t`).
PAUSE_ENDS = [
    pytest.param(
        0,
        4,
        teaching(1, START + sec(500 + TEACH)),
        [
            Step("rating_ended", 0, START + sec(500)),
            Step("teaching_started", 1, START + sec(500)),
        ],
        id="next-turn-starts-at-once",
    ),
    pytest.param(
        2,
        4,
        teaching(3, START + sec(500 + TEACH)),
        [
            Step("rating_ended", 2, START + sec(500)),
            Step("teaching_started", 3, START + sec(500)),
        ],
        id="to-the-last-turn",
    ),
    pytest.param(
        3,
        4,
        make_room(status="completed", phase="done", turn=4),
        [
            Step("rating_ended", 3, START + sec(500)),
            Step("completed", 4, START + sec(500)),
        ],
        id="last-rating-completes",
    ),
    pytest.param(
        1,
        2,
        make_room(status="completed", phase="done", turn=2, turns=2),
        [
            Step("rating_ended", 1, START + sec(500)),
            Step("completed", 2, START + sec(500)),
        ],
        id="two-turns",
    ),
    pytest.param(
        5,
        6,
        make_room(status="completed", phase="done", turn=6, turns=6),
        [
            Step("rating_ended", 5, START + sec(500)),
            Step("completed", 6, START + sec(500)),
        ],
        id="six-turns",
    ),
]


@pytest.mark.parametrize(("turn", "turns", "after", "steps"), PAUSE_ENDS)
def test_rated_when_the_teacher_is_ready_ends_the_pause(turn, turns, after, steps):
    before = rating(turn, START + sec(600), turns=turns)
    t = START + sec(500)
    assert rated(before, t, teacher_ready=True) == (
        replace(after, turns=turns),
        [Step("listener_rated", turn, t), *steps],
    )


@pytest.mark.parametrize(("turn", "turns", "after", "steps"), PAUSE_ENDS)
def test_teacher_ready_after_the_rating_ends_the_pause(turn, turns, after, steps):
    before = rating(turn, START + sec(600), turns=turns)
    t = START + sec(500)
    assert teacher_ready(before, t, listener_rated=True) == (
        replace(after, turns=turns),
        [Step("teacher_ready", turn, t), *steps],
    )


@pytest.mark.parametrize(("turn", "turns"), [(0, 4), (3, 4), (1, 2), (5, 6)])
def test_either_alone_leaves_the_pause_running(turn, turns):
    before = rating(turn, START + sec(600), turns=turns)
    t = START + sec(500)
    # Nothing but the step: same phase, same deadline (the pause waits on).
    assert rated(before, t, teacher_ready=False) == (
        before,
        [Step("listener_rated", turn, t)],
    )
    assert teacher_ready(before, t, listener_rated=False) == (
        before,
        [Step("teacher_ready", turn, t)],
    )


@pytest.mark.parametrize(
    "listener_first", [True, False], ids=["rate-ready", "ready-rate"]
)
@pytest.mark.parametrize("turns", [2, 4])
def test_the_pause_ends_on_the_second_of_the_two_in_either_order(listener_first, turns):
    """Both orders end the pause at the instant of the second, never the first,
    and the last turn's pause completes the session."""
    room = rating(turns - 2, START + sec(900), turns=turns)
    first_at, second_at = START + sec(800), START + sec(850)
    if listener_first:
        room, steps = rated(room, first_at, teacher_ready=False)
        assert steps == [Step("listener_rated", turns - 2, first_at)]
        room, steps = teacher_ready(room, second_at, listener_rated=True)
        assert steps[0] == Step("teacher_ready", turns - 2, second_at)
    else:
        room, steps = teacher_ready(room, first_at, listener_rated=False)
        assert steps == [Step("teacher_ready", turns - 2, first_at)]
        room, steps = rated(room, second_at, teacher_ready=True)
        assert steps[0] == Step("listener_rated", turns - 2, second_at)
    assert steps[1:] == [
        Step("rating_ended", turns - 2, second_at),
        Step("teaching_started", turns - 1, second_at),
    ]
    assert room == teaching(turns - 1, second_at + sec(TEACH), turns=turns)
    # The last turn: the same two, the other order, complete the session.
    room, _ = finish_turn(room, second_at + sec(60))
    last_at = second_at + sec(90)
    if listener_first:
        room, steps = teacher_ready(room, last_at, listener_rated=False)
        room, steps = rated(room, last_at, teacher_ready=True)
    else:
        room, steps = rated(room, last_at, teacher_ready=False)
        room, steps = teacher_ready(room, last_at, listener_rated=True)
    assert room == make_room(status="completed", phase="done", turn=turns, turns=turns)
    assert [s.kind for s in steps] == [
        "listener_rated" if listener_first else "teacher_ready",
        "rating_ended",
        "completed",
    ]
    assert steps[-1] == Step("completed", turns, last_at)


def test_a_pause_nobody_finishes_ends_at_its_deadline():
    room, _ = rated(rating(0, START + sec(900)), START + sec(800), teacher_ready=False)
    after, steps = advance(room, START + sec(900))
    assert after == teaching(1, START + sec(900 + TEACH))
    assert steps == [
        Step("rating_ended", 0, START + sec(900)),
        Step("teaching_started", 1, START + sec(900)),
    ]


REFUSE_FINISH = [
    SCHEDULED,
    OPEN,
    ARMED,
    rating(0, START + sec(900)),
    COMPLETED,
    MISSED,
    CANCELLED,
]
REFUSE_RATED = [
    SCHEDULED,
    OPEN,
    ARMED,
    teaching(0, START + sec(TEACH)),
    COMPLETED,
    MISSED,
    CANCELLED,
]
REFUSE_CANCEL = [
    teaching(0, START + sec(TEACH)),
    rating(1, START + sec(2000)),
    COMPLETED,
    MISSED,
    CANCELLED,
]


def _rated_ready(room: Room, now: datetime):
    return rated(room, now, teacher_ready=True)


def _rated_alone(room: Room, now: datetime):
    return rated(room, now, teacher_ready=False)


def _ready_rated(room: Room, now: datetime):
    return teacher_ready(room, now, listener_rated=True)


def _ready_alone(room: Room, now: datetime):
    return teacher_ready(room, now, listener_rated=False)


PAUSE_EVENTS = (_rated_ready, _rated_alone, _ready_rated, _ready_alone)


@pytest.mark.parametrize(
    ("event", "room"),
    [(finish_turn, r) for r in REFUSE_FINISH]
    + [(e, r) for e in PAUSE_EVENTS for r in REFUSE_RATED]
    + [(cancel, r) for r in REFUSE_CANCEL],
    ids=lambda v: v.__name__ if callable(v) else _name(v),
)
def test_refused_events_raise_wrong_phase(event, room):
    with pytest.raises(RoomError) as caught:
        event(room, START + sec(10))
    assert caught.value.code == "wrong_phase"
    assert caught.value.message


# --- no_show / cancel --------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "now", "missed"),
    [
        pytest.param(OPEN, START + GRACE - sec(1), False, id="within-grace"),
        pytest.param(OPEN, START + GRACE, True, id="at-grace"),
        pytest.param(SCHEDULED, START + GRACE + sec(3600), True, id="never-opened"),
        pytest.param(ARMED, START + GRACE, False, id="both-present"),
        pytest.param(
            teaching(0, START + sec(TEACH)), START + GRACE, False, id="teaching"
        ),
        pytest.param(COMPLETED, START + GRACE, False, id="completed"),
        pytest.param(CANCELLED, START + GRACE, False, id="cancelled"),
        pytest.param(MISSED, START + GRACE, False, id="already-missed"),
    ],
)
def test_no_show(before, now, missed):
    after, steps = no_show(before, now, GRACE)
    if missed:
        assert after == replace(before, status="missed", phase="done")
        # Stamped when it fell due, however late the check ran.
        assert steps == [Step("missed", 0, START + GRACE)]
    else:
        assert (after, steps) == (before, [])


@pytest.mark.parametrize(
    ("before", "now", "ends"),
    [
        pytest.param(OPEN, START + GRACE - sec(1), False, id="within-grace"),
        pytest.param(OPEN, START + GRACE, True, id="at-grace"),
        pytest.param(OPEN, START + GRACE + sec(3600), True, id="late-job"),
        pytest.param(SCHEDULED, START + GRACE + sec(60), True, id="never-opened"),
        pytest.param(ARMED, START + GRACE, False, id="both-present"),
        pytest.param(
            teaching(0, START + sec(TEACH)), START + GRACE, False, id="teaching"
        ),
        pytest.param(MISSED, START + GRACE, False, id="already-missed"),
        pytest.param(CANCELLED, START + GRACE, False, id="already-cancelled"),
    ],
)
def test_a_no_show_that_does_not_count_is_cancelled(before, now, ends):
    """An extra session nobody ever joined: cancelled, not missed, stamped at
    the instant it fell due (however late the check ran)."""
    after, steps = no_show(before, now, GRACE, counts=False)
    if ends:
        assert after == replace(before, status="cancelled", phase="done")
        assert steps == [Step("cancelled", 0, START + GRACE)]
    else:
        assert (after, steps) == (before, [])


@pytest.mark.parametrize("counts", [True, False])
def test_settle_passes_counts_to_the_no_show(counts):
    after, steps = settle(OPEN, START + GRACE + sec(5), GRACE, counts=counts)
    status = "missed" if counts else "cancelled"
    assert after == make_room(status=status, phase="done")
    assert steps == [Step(status, 0, START + GRACE)]
    # A deadline comes first: an armed room starts, counts or not.
    after, steps = settle(ARMED, START + GRACE, GRACE, counts=counts)
    assert after == teaching(0, START + sec(TEACH))
    assert [s.kind for s in steps] == ["teaching_started"]


@pytest.mark.parametrize("before", [SCHEDULED, OPEN, ARMED], ids=_name)
def test_cancel_a_session_not_begun(before):
    after, steps = cancel(before, START - sec(5))
    assert after == make_room(status="cancelled", phase="done")
    assert steps == [Step("cancelled", 0, START - sec(5))]


# --- advance -----------------------------------------------------------------


def test_advance_before_any_deadline_changes_nothing():
    room = teaching(1, START + sec(2000))
    assert advance(room, START + sec(1999)) == (room, [])
    assert advance(OPEN, START + sec(5000)) == (OPEN, [])  # no deadline armed
    assert advance(COMPLETED, START + sec(99999)) == (COMPLETED, [])


def test_advance_starts_an_armed_room_at_the_start_time():
    after, steps = advance(ARMED, START + sec(30))
    assert after == teaching(0, START + sec(TEACH))
    assert steps == [Step("teaching_started", 0, START)]


def test_advance_each_deadline_at_its_own_instant():
    t = START
    room = teaching(0, t + sec(TEACH))
    room, steps = advance(room, t + sec(TEACH))
    assert room == rating(0, t + sec(TEACH + RATE))
    assert steps == [Step("teaching_ended", 0, t + sec(TEACH))]
    room, steps = advance(room, t + sec(TEACH + RATE))
    assert room == teaching(1, t + sec(2 * TEACH + RATE))
    assert steps == [
        Step("rating_ended", 0, t + sec(TEACH + RATE)),
        Step("teaching_started", 1, t + sec(TEACH + RATE)),
    ]


def test_advance_after_a_long_gap_replays_every_deadline():
    """A server down for a day: each phase ends on its stored deadline."""
    d = START + sec(900 + 100)  # turn 1 ends teaching here (it began 100 s late)
    room = teaching(1, d)
    after, steps = advance(room, START + timedelta(days=1))
    turn = TEACH + RATE
    assert after == make_room(status="completed", phase="done", turn=4)
    assert steps == [
        Step("teaching_ended", 1, d),
        Step("rating_ended", 1, d + sec(RATE)),
        Step("teaching_started", 2, d + sec(RATE)),
        Step("teaching_ended", 2, d + sec(turn)),
        Step("rating_ended", 2, d + sec(turn + RATE)),
        Step("teaching_started", 3, d + sec(turn + RATE)),
        Step("teaching_ended", 3, d + sec(2 * turn)),
        Step("rating_ended", 3, d + sec(2 * turn + RATE)),
        Step("completed", 4, d + sec(2 * turn + RATE)),
    ]


def test_restart_mid_turn_keeps_the_stored_deadlines():
    """Back after 20 minutes: the turn ended on time and the next one began then."""
    d = START + sec(TEACH)
    now = START + sec(20 * 60)
    after, steps = advance(teaching(0, d), now)
    # Turn 1 began at d + RATE (18:15), not at now (18:20): it ends at 18:27.
    assert after == teaching(1, d + sec(RATE + TEACH))
    assert after.phase_ends_at == datetime(2026, 3, 10, 18, 27, tzinfo=UTC)
    assert [s.at for s in steps] == [d, d + sec(RATE), d + sec(RATE)]
    assert all(s.at <= now for s in steps)


def test_advance_from_an_armed_wait_through_a_whole_session():
    """Both came early, then nobody ran the clock until long after the end."""
    armed = make_room(status="open", phase_ends_at=START, turns=2)
    after, steps = advance(armed, START + timedelta(hours=5))
    assert after == make_room(status="completed", phase="done", turn=2, turns=2)
    assert [(s.kind, s.turn, s.at) for s in steps] == [
        ("teaching_started", 0, START),
        ("teaching_ended", 0, START + sec(TEACH)),
        ("rating_ended", 0, START + sec(TEACH + RATE)),
        ("teaching_started", 1, START + sec(TEACH + RATE)),
        ("teaching_ended", 1, START + sec(2 * TEACH + RATE)),
        ("rating_ended", 1, START + sec(2 * (TEACH + RATE))),
        ("completed", 2, START + sec(2 * (TEACH + RATE))),
    ]


@pytest.mark.parametrize("turns", [2, 4, 6])
def test_sessions_of_each_length_complete_with_turn_equal_to_turns(turns):
    # By events: the teacher finishes early, the listener rates.
    room, _ = both_present(make_room(status="open", turns=turns), START)
    now = START
    teachers_done = 0
    while room.status == "live":
        now += sec(60)
        room, _ = finish_turn(room, now)
        now += sec(30)
        room, steps = rated(room, now, teacher_ready=False)
        assert room.phase == "rating"  # the teacher is still reflecting
        now += sec(10)
        room, steps = teacher_ready(room, now, listener_rated=True)
        teachers_done += 1
    assert teachers_done == turns
    assert (room.status, room.phase, room.turn) == ("completed", "done", turns)
    assert steps[-1] == Step("completed", turns, now)
    # By deadlines alone: the same session ends at turns * (teach + rate).
    room, _ = both_present(make_room(status="open", turns=turns), START)
    room, steps = advance(room, START + timedelta(days=1))
    assert (room.status, room.phase, room.turn) == ("completed", "done", turns)
    assert steps[-1] == Step("completed", turns, START + sec(turns * (TEACH + RATE)))


def test_zero_rate_seconds_goes_straight_to_the_next_turn():
    room = teaching(0, START + sec(TEACH), rate_seconds=0)
    after, steps = advance(room, START + sec(TEACH))
    assert after == teaching(1, START + sec(2 * TEACH), rate_seconds=0)
    assert [s.kind for s in steps] == [
        "teaching_ended",
        "rating_ended",
        "teaching_started",
    ]


# --- role_of -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("turn", "user", "role"),
    [
        (0, 7, "teacher"),
        (0, 9, "listener"),
        (1, 9, "teacher"),
        (1, 7, "listener"),
        (2, 7, "teacher"),
        (5, 9, "teacher"),
        (5, 7, "listener"),
        (0, 8, "outsider"),
        (3, 8, "outsider"),
    ],
)
def test_role_of(turn, user, role):
    assert role_of(turn, 7, 9, user) == role


# --- topic_turn --------------------------------------------------------------

FIRST, SECOND, OUTSIDER = 7, 9, 8


@pytest.mark.parametrize(
    ("room", "first", "second"),
    [
        # Waiting: each names their own first turn (the first teacher turn 0).
        pytest.param(SCHEDULED, 0, 1, id="scheduled"),
        pytest.param(OPEN, 0, 1, id="open"),
        pytest.param(ARMED, 0, 1, id="armed"),
        # Teaching turn i: its teacher names it, the listener the next one.
        pytest.param(teaching(0, START), 0, 1, id="teaching-0"),
        pytest.param(teaching(1, START), 2, 1, id="teaching-1"),
        pytest.param(teaching(2, START), 2, 3, id="teaching-2"),
        # Rating turn i: it is taught; the next two are open (i+1, i+2).
        pytest.param(rating(0, START), 2, 1, id="rating-0"),
        pytest.param(rating(1, START), 2, 3, id="rating-1"),
        pytest.param(rating(2, START), None, 3, id="rating-2-last-is-second"),
        # The last turn: only its teacher, until its teaching ends.
        pytest.param(teaching(3, START), None, 3, id="teaching-last"),
        pytest.param(rating(3, START), None, None, id="rating-last"),
        # Over: nobody.
        pytest.param(COMPLETED, None, None, id="completed"),
        pytest.param(MISSED, None, None, id="missed"),
        pytest.param(CANCELLED, None, None, id="cancelled"),
    ],
)
def test_topic_turn(room, first, second):
    assert topic_turn(room, FIRST, SECOND, FIRST) == first
    assert topic_turn(room, FIRST, SECOND, SECOND) == second
    assert topic_turn(room, FIRST, SECOND, OUTSIDER) is None


@pytest.mark.parametrize("turns", [2, 4, 6])
def test_topic_turn_is_always_a_turn_the_user_teaches_and_not_taught_yet(turns):
    rooms = [make_room(turns=turns)]
    for i in range(turns):
        rooms += [teaching(i, START, turns=turns), rating(i, START, turns=turns)]
    rooms.append(make_room(status="completed", phase="done", turn=turns, turns=turns))
    for room in rooms:
        taught = room.turn + (1 if room.phase == "rating" else 0)
        for user in (FIRST, SECOND):
            target = topic_turn(room, FIRST, SECOND, user)
            if target is None:
                continue
            assert taught <= target < min(taught + 2, turns), (room, user)
            assert role_of(target, FIRST, SECOND, user) == "teacher"
    # Two turns: the second teacher's only turn is 1; it stays theirs to name
    # while turn 0 is taught and rated.
    two = [make_room(turns=2), teaching(0, START, turns=2), rating(0, START, turns=2)]
    assert [topic_turn(r, FIRST, SECOND, SECOND) for r in two] == [1, 1, 1]
    assert [topic_turn(r, FIRST, SECOND, FIRST) for r in two] == [0, 0, None]


def test_topic_turn_with_a_deleted_partner():
    """A teacher whose account is gone (None): the other still names theirs."""
    assert topic_turn(OPEN, None, SECOND, SECOND) == 1
    assert topic_turn(OPEN, FIRST, None, FIRST) == 0
    assert topic_turn(teaching(0, START), FIRST, None, FIRST) == 0


def test_is_over():
    assert [r.is_over for r in (SCHEDULED, OPEN, teaching(0, START))] == [
        False,
        False,
        False,
    ]
    assert all(r.is_over for r in (COMPLETED, MISSED, CANCELLED))


# --- property: random event sequences ----------------------------------------

STATUS_RANK = {
    "scheduled": 0,
    "open": 1,
    "live": 2,
    "completed": 3,
    "missed": 3,
    "cancelled": 3,
}
PHASE_RANK = {"waiting": 0, "teaching": 1, "rating": 2, "done": 3}
EVENTS = (
    "finish_turn",
    "rated",
    "teacher_ready",
    "advance",
    "both_present",
    "someone_left",
    "no_show",
    "open_room",
)


def _progress(room: Room) -> tuple[int, int, int]:
    """A key that must never decrease: (status, turn, phase within the turn)."""
    if room.phase == "done":
        return (STATUS_RANK[room.status], room.turns + 1, PHASE_RANK["done"])
    return (STATUS_RANK[room.status], room.turn, PHASE_RANK[room.phase])


def _apply(
    name: str, room: Room, now: datetime, done: set[str], counts: bool
) -> tuple[Room, list[Step]]:
    """One event; `done` holds what the current pause has had ("rated",
    "teacher_ready"), as the service would read it from the turn's rows."""
    if name == "no_show":
        return no_show(room, now, GRACE, counts=counts)
    if name == "open_room":
        return open_room(room, now, OPENS)
    if name == "rated":
        return rated(room, now, teacher_ready="teacher_ready" in done)
    if name == "teacher_ready":
        return teacher_ready(room, now, listener_rated="rated" in done)
    return getattr(rules, name)(room, now)


@settings(max_examples=400, deadline=None)
@given(
    turns=st.sampled_from([2, 4, 6]),
    teach=st.integers(1, 900),
    rate=st.integers(0, 300),
    first=st.integers(-3600, 3600),
    events=st.lists(
        st.tuples(st.sampled_from(EVENTS), st.integers(0, 1200)),
        min_size=1,
        max_size=80,
    ),
    counts=st.booleans(),
)
def test_random_event_sequences_only_move_forward(
    turns, teach, rate, first, events, counts
):
    room = make_room(turns=turns, teach_seconds=teach, rate_seconds=rate)
    now = START + sec(first)
    done: set[str] = set()  # what the current pause has had
    for name, gap in events:
        now += sec(gap)
        before = room
        if name in ("rated", "teacher_ready") and name in done:
            continue  # the service answers a repeat without asking the room
        try:
            room, steps = _apply(name, before, now, done, counts)
        except RoomError as refused:
            assert refused.code == "wrong_phase"
            continue  # a refused event changes nothing
        if (before.phase, before.turn) != (room.phase, room.turn):
            done = set()  # a new phase: nobody has rated or said ready in it
        elif name in ("rated", "teacher_ready"):
            done.add(name)
            # The pause ends only on the second of the two.
            assert steps == [
                Step("listener_rated" if name == "rated" else name, before.turn, now)
            ]
        if name in ("rated", "teacher_ready") and room != before:
            assert [s.kind for s in steps][:2] == [
                "listener_rated" if name == "rated" else "teacher_ready",
                "rating_ended",
            ]
        # Never backwards, never past the last turn.
        assert _progress(room) >= _progress(before), (name, before, room)
        assert room.turn >= before.turn
        assert 0 <= room.turn <= turns
        assert room.turns == turns
        if before.is_over:
            assert room == before
        # Every step happened by now, in order.
        assert [s.at for s in steps] == sorted(s.at for s in steps)
        assert all(s.at <= now for s in steps)
        assert all(0 <= s.turn <= turns for s in steps)
        # Completed only after the last turn's rating, and then turn == turns.
        if room.status == "completed":
            assert room.turn == turns and room.phase == "done"
            if before.status != "completed":
                kinds = [s.kind for s in steps]
                assert kinds[-2:] == ["rating_ended", "completed"]
                assert steps[-2] == Step("rating_ended", turns - 1, steps[-1].at)
                assert steps[-1] == Step("completed", turns, steps[-1].at)
                if name in ("rated", "teacher_ready"):
                    assert (before.phase, before.turn) == ("rating", turns - 1)
        elif room.turn == turns:
            pytest.fail(f"turn {turns} reached without completing: {room}")
        if room.status == "live":
            assert room.phase in ("teaching", "rating")
            assert room.phase_ends_at is not None
        if room.is_over:
            assert room.phase == "done" and room.phase_ends_at is None
        # A no-show is missed when it counts, cancelled when it does not.
        if name == "no_show" and steps:
            assert steps == [Step("missed" if counts else "cancelled", 0, steps[0].at)]
            assert steps[0].at == START + GRACE
