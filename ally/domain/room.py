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

STATUSES = ("scheduled", "open", "live", "completed", "missed", "cancelled")
OVER = frozenset({"completed", "missed", "cancelled"})
PHASES = ("waiting", "teaching", "rating", "done")
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
    missed, cancelled, armed (both present before the start), disarmed.
    """

    kind: str
    turn: int
    at: datetime


def teacher_index(turn: int) -> int:
    """0 when the session's first teacher teaches this turn, else 1."""
    return turn % 2


def role_of(turn: int, first_teacher: int, second_teacher: int, user: int) -> str:
    """'teacher', 'listener' or 'outsider' for user in the given turn."""
    teacher = (first_teacher, second_teacher)[teacher_index(turn)]
    listener = (first_teacher, second_teacher)[1 - teacher_index(turn)]
    if user == teacher:
        return "teacher"
    if user == listener:
        return "listener"
    return "outsider"


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


def rated(room: Room, now: datetime) -> tuple[Room, list]:
    """The listener rated: rating(i) → teaching(i+1), or done after the last turn."""
    if room.status != "live" or room.phase != "rating":
        raise RoomError("wrong_phase", "Ratings are given during the rating phase.")
    return _after_rating(room, now)


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


def no_show(room: Room, now: datetime, grace: timedelta) -> tuple[Room, list]:
    """Still waiting `grace` after the start: the session is missed.

    Like every deadline, it is stamped at the instant it fell due, not when a
    (possibly late) job noticed it.
    """
    if room.status in ("scheduled", "open") and room.phase == "waiting":
        due = room.starts_at + grace
        if now >= due and room.phase_ends_at is None:
            missed = replace(room, status="missed", phase="done", phase_ends_at=None)
            return missed, [Step("missed", 0, due)]
    return room, []


def settle(room: Room, now: datetime, grace: timedelta) -> tuple[Room, list]:
    """Everything that has fallen due by now: phase deadlines, then a no-show.

    Every entry point (an event, a join, a job) settles the room first, so the
    outcome never depends on which of them came first.
    """
    room, steps = advance(room, now)
    room, more = no_show(room, now, grace)
    return room, steps + more


def cancel(room: Room, now: datetime) -> tuple[Room, list]:
    """Call off a session that has not started."""
    if room.status not in ("scheduled", "open") or room.phase != "waiting":
        raise RoomError(
            "wrong_phase", "Only a session that has not begun can be cancelled."
        )
    cancelled = replace(room, status="cancelled", phase="done", phase_ends_at=None)
    return cancelled, [Step("cancelled", 0, now)]
