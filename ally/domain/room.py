"""The teach-back room's state machine: phases, who may move them, and deadlines.

A session goes scheduled → open (the room opens before the start) → live →
completed, or ends missed / cancelled. While live its phase goes teaching(i) →
rating(i) → teaching(i+1) … → done. Every function here is pure: it takes the
current `Room` and `now` and returns the next `Room` plus what happened, or
raises `RoomError` with a protocol error code. The service layer persists the
result with a compare-and-set on the row's version, so two racing callers
produce one transition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .vocabulary import OVER, PHASES, STATUSES, Role

__all__ = ["OVER", "PHASES", "STATUSES"]  # re-exported: the room's words
# A runaway loop guard: a session has at most 6 turns, so at most 13 steps.
MAX_STEPS = 64


class RoomError(Exception):
    """An event the room refuses; `code` is a room-protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Room:
    """The state of one session's room, as plain values."""

    status: str
    phase: str
    turn: int
    turns: int
    teach_seconds: int
    rate_seconds: int
    starts_at: datetime
    phase_ends_at: datetime | None = None

    @property
    def is_over(self) -> bool:
        """Completed, missed or cancelled."""
        return self.status in OVER


@dataclass(frozen=True)
class Step:
    """One thing that happened: `kind` at `at`, for turn `turn`.

    kinds: opened, teaching_started, teaching_ended, rating_ended, completed,
    missed, cancelled, armed (both present before the start), disarmed, and
    within a rating phase listener_rated and teacher_ready (the phase goes on
    until both happened or its deadline came).
    """

    kind: str
    turn: int
    at: datetime


def room_of(row: object) -> Room:
    """The room of anything shaped like a stored session (a row or an entity
    with status, phase, current_turn, turns, teach_seconds, rate_seconds,
    starts_at and phase_ends_at)."""
    return Room(
        status=row.status,
        phase=row.phase,
        turn=row.current_turn,
        turns=row.turns,
        teach_seconds=row.teach_seconds,
        rate_seconds=row.rate_seconds,
        starts_at=row.starts_at,
        phase_ends_at=row.phase_ends_at,
    )


def teacher_index(turn: int) -> int:
    """0 when the session's first teacher teaches this turn, else 1."""
    return turn % 2


def role_of(turn: int, first_teacher: int, second_teacher: int, user: int) -> str:
    """'teacher', 'listener' or 'outsider' for user in the given turn."""
    teacher = (first_teacher, second_teacher)[teacher_index(turn)]
    listener = (first_teacher, second_teacher)[1 - teacher_index(turn)]
    if user == teacher:
        return Role.TEACHER.value
    if user == listener:
        return Role.LISTENER.value
    return Role.OUTSIDER.value


def topic_turn(
    room: Room, first_teacher: int | None, second_teacher: int | None, user: int
) -> int | None:
    """The turn whose topic `user` may name now: the one they teach now, else
    the next one they will teach (of the next two not yet taught); None when
    there is none (the session is over, or it is not their turn soon)."""
    if room.is_over or room.phase == "done":
        return None
    first_open = room.turn + (1 if room.phase == "rating" else 0)
    for turn in range(first_open, min(first_open + 2, room.turns)):
        if role_of(turn, first_teacher, second_teacher, user) == Role.TEACHER:
            return turn
    return None


def open_room(room: Room, now: datetime, opens_before: timedelta) -> tuple[Room, list]:
    """scheduled → open once the room-opening time has come (else unchanged)."""
    if room.status == "scheduled" and now >= room.starts_at - opens_before:
        return replace(room, status="open"), [Step("opened", 0, now)]
    return room, []


def _start_teaching(room: Room, turn: int, at: datetime) -> tuple[Room, Step]:
    ends = at + timedelta(seconds=room.teach_seconds)
    started = replace(
        room, status="live", phase="teaching", turn=turn, phase_ends_at=ends
    )
    return started, Step("teaching_started", turn, at)


def both_present(room: Room, now: datetime) -> tuple[Room, list]:
    """Both partners are in the room: teaching starts now, or at the start time."""
    if room.is_over:
        raise RoomError("wrong_phase", "This session is over.")
    if room.phase != "waiting":
        return room, []
    if now >= room.starts_at:
        started, step = _start_teaching(room, 0, now)
        return started, [step]
    if room.phase_ends_at == room.starts_at:
        return room, []
    # Early: the wait ends at the start time (the deadline job starts teaching).
    return replace(room, status="open", phase_ends_at=room.starts_at), [
        Step("armed", 0, now)
    ]


def someone_left(room: Room, now: datetime) -> tuple[Room, list]:
    """A partner left before teaching began: the start waits for both again."""
    if room.phase == "waiting" and room.phase_ends_at is not None:
        return replace(room, phase_ends_at=None), [Step("disarmed", 0, now)]
    return room, []


def _after_rating(room: Room, at: datetime) -> tuple[Room, list[Step]]:
    steps = [Step("rating_ended", room.turn, at)]
    if room.turn + 1 >= room.turns:
        done = replace(
            room, status="completed", phase="done", turn=room.turns, phase_ends_at=None
        )
        return done, [*steps, Step("completed", room.turns, at)]
    started, step = _start_teaching(room, room.turn + 1, at)
    return started, [*steps, step]


def _end_teaching(room: Room, at: datetime) -> tuple[Room, list[Step]]:
    rating = replace(
        room, phase="rating", phase_ends_at=at + timedelta(seconds=room.rate_seconds)
    )
    return rating, [Step("teaching_ended", room.turn, at)]


def finish_turn(room: Room, now: datetime) -> tuple[Room, list]:
    """The teacher says "done": teaching(i) → rating(i)."""
    if room.status != "live" or room.phase != "teaching":
        raise RoomError("wrong_phase", "Only a turn that is being taught can finish.")
    return _end_teaching(room, now)


def _in_rating(room: Room, what: str) -> None:
    if room.status != "live" or room.phase != "rating":
        raise RoomError("wrong_phase", f"{what} during the rating phase.")


def _one_of_two(room: Room, now: datetime, step: str, other_done: bool) -> tuple:
    """One of the pause's two conditions is met: it ends if the other was."""
    steps = [Step(step, room.turn, now)]
    if not other_done:
        return room, steps
    after, more = _after_rating(room, now)
    return after, steps + more


def rated(room: Room, now: datetime, *, teacher_ready: bool) -> tuple[Room, list]:
    """The listener rated: the pause ends too if the teacher is ready, else
    it goes on (the teacher is still writing their summary)."""
    _in_rating(room, "Ratings are given")
    return _one_of_two(room, now, "listener_rated", teacher_ready)


def teacher_ready(room: Room, now: datetime, *, listener_rated: bool) -> tuple:
    """The teacher is done reflecting (said ready or rated themselves): the
    pause ends too if the listener has rated, else it goes on."""
    _in_rating(room, "Say you are ready")
    return _one_of_two(room, now, "teacher_ready", listener_rated)


def advance(room: Room, now: datetime) -> tuple[Room, list]:
    """Apply every deadline that has passed by now, each at its own instant.

    A late run (a restarted server, a busy job) replays the phases as they would
    have happened, so a turn always ends on its stored deadline.
    """
    steps: list[Step] = []
    for _ in range(MAX_STEPS):
        due = room.phase_ends_at
        if room.is_over or due is None or due > now:
            break
        if room.phase == "waiting":
            room, step = _start_teaching(room, 0, due)
            steps.append(step)
        elif room.phase == "teaching":
            room, more = _end_teaching(room, due)
            steps += more
        elif room.phase == "rating":
            room, more = _after_rating(room, due)
            steps += more
        else:  # pragma: no cover - 'done' always has no deadline
            break
    return room, steps


def no_show(
    room: Room, now: datetime, grace: timedelta, *, counts: bool = True
) -> tuple[Room, list]:
    """Still waiting `grace` after the start: the session is missed.

    `counts` is False for an extra session neither partner ever joined: it
    ends cancelled, since only scheduled meetings count against attendance.
    Like every deadline, it is stamped at the instant it fell due, not when a
    (possibly late) job noticed it.
    """
    if room.status in ("scheduled", "open") and room.phase == "waiting":
        due = room.starts_at + grace
        if now >= due and room.phase_ends_at is None:
            status = "missed" if counts else "cancelled"
            ended = replace(room, status=status, phase="done", phase_ends_at=None)
            return ended, [Step(status, 0, due)]
    return room, []


def settle(
    room: Room, now: datetime, grace: timedelta, *, counts: bool = True
) -> tuple[Room, list]:
    """Everything that has fallen due by now: phase deadlines, then a no-show.

    Every entry point (an event, a join, a job) settles the room first, so the
    outcome never depends on which of them came first.
    """
    room, steps = advance(room, now)
    room, more = no_show(room, now, grace, counts=counts)
    return room, steps + more


def cancel(room: Room, now: datetime) -> tuple[Room, list]:
    """Call off a session that has not started."""
    if room.status not in ("scheduled", "open") or room.phase != "waiting":
        raise RoomError(
            "wrong_phase", "Only a session that has not begun can be cancelled."
        )
    cancelled = replace(room, status="cancelled", phase="done", phase_ends_at=None)
    return cancelled, [Step("cancelled", 0, now)]
