"""The live room's events: join, leave, topic, signals, finish, rate, summary.

Every entry point (socket handlers today, anything else tomorrow) calls these
with the acting user's id and plain values. Each one loads the session through
the user's membership (someone else's session is `NotFound`, revealing
nothing), validates the payload, lets `domain.room` decide, stores the result
with a compare-and-set on the session's version, commits, and only then pushes
events to the room. A refused event raises a `ServiceError` and writes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..domain import room as rules
from ..domain.rate_limit import TokenBucket
from ..domain.review import topic_key
from ..extensions import db
from ..models import Rating, SessionParticipant, Signal, TeachSession, Turn, User
from ..realtime.emit import (
    emit_to_session,
    enter_session_room,
    leave_session_room,
)
from . import notifications, presence, room_clock, room_state
from .errors import (
    AlreadyRated,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    ServiceError,
    WrongPhase,
)
from .turns import ensure_turn

SIGNAL_KINDS = ("jargon", "lost", "slower", "clear")
MAX_TOPIC, MAX_WORD, MAX_NOTE, MAX_SUMMARY = 120, 40, 1000, 600
MAX_JARGON_WORDS = 20
# Listener signals: about 5 a second per user, a short burst allowed.
SIGNAL_RATE, SIGNAL_BURST = 5.0, 8.0
CAS_RETRIES = 3
MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER

_buckets: dict[int, TokenBucket] = {}
_buckets_lock = threading.Lock()


# --- loading and validating ---------------------------------------------------


def is_plausible_id(value: Any) -> bool:
    """An integer some session row could have."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
    )


def check_session_id(session_id: Any) -> None:
    """Invalid unless an integer; NotFound when no row can have it."""
    if isinstance(session_id, bool) or not isinstance(session_id, int):
        raise Invalid("session_id must be an integer.", field="session_id")
    if not 0 < session_id <= MAX_ID:
        raise NotFound("No such session.")  # no row can have it


def load_session(user_id: int, session_id: Any) -> TeachSession:
    """A session the user takes part in, or NotFound (never says which)."""
    check_session_id(session_id)
    session = db.session.get(TeachSession, session_id)
    if session is None or user_id not in session.member_ids():
        raise NotFound("No such session.")
    return session


def _text(value: Any, field: str, limit: int, *, required: bool) -> str | None:
    """A trimmed, whitespace-folded string within limit, or None when optional."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text.", field=field)
    clean = " ".join(value.split())
    if not clean:
        if required:
            raise Invalid(f"{field} must not be empty.", field=field)
        return None
    if len(clean) > limit:
        raise Invalid(f"{field} is limited to {limit} characters.", field=field)
    return clean


def _simplicity(value: Any, field: str = "simplicity") -> int:
    """An integer from 1 to 5 (booleans, floats and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise Invalid(f"{field} must be a whole number from 1 to 5.", field=field)
    return value


def _turn_index(session: TeachSession, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("turn must be an integer.", field="turn")
    if not 0 <= value < session.turns:
        raise Invalid(f"turn must be 0 to {session.turns - 1}.", field="turn")
    return value


def _jargon(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid("jargon must be a list of words.", field="jargon")
    if len(value) > MAX_JARGON_WORDS:
        raise Invalid(f"jargon is limited to {MAX_JARGON_WORDS} words.", field="jargon")
    words: list[str] = []
    for item in value:
        word = _text(item, "jargon", MAX_WORD, required=True)
        if word not in words:
            words.append(word)
    return words


def _role(session: TeachSession, turn: int, user_id: int) -> str:
    return rules.role_of(
        turn, session.first_teacher_id, session.second_teacher_id, user_id
    )


# --- transitions --------------------------------------------------------------


Decision = Callable[[TeachSession, rules.Room], tuple[rules.Room, list[rules.Step]]]


class Moved(NamedTuple):
    """A transition's outcome: the session, and the snapshot pushed (if any)."""

    session: TeachSession
    state: dict[str, Any] | None


def _transition(
    user_id: int,
    session_id: Any,
    now: datetime,
    decide: Decision,
    before_commit: Callable[[TeachSession], None] | None = None,
) -> Moved:
    """Apply decide() with compare-and-set, retrying if a racing change won.

    decide() sees the room with every passed deadline applied first (the server
    owns the clock) and returns the next state, or raises RoomError / a
    ServiceError to refuse; the passed deadlines are stored either way.
    """
    for _ in range(CAS_RETRIES):
        session = load_session(user_id, session_id)
        current, steps = room_clock.settle(session, now)
        try:
            new, more = decide(session, current)
        except (rules.RoomError, ServiceError) as exc:
            if steps and room_clock.save_room(session, current, steps):
                db.session.commit()
                room_state.publish(session.id, now)
            else:
                db.session.rollback()
            if isinstance(exc, rules.RoomError):
                raise WrongPhase(exc.message) from exc
            raise
        all_steps = steps + more
        if not all_steps:
            db.session.rollback()
            return Moved(session, None)
        if room_clock.save_room(session, new, all_steps):
            if before_commit is not None:
                before_commit(session)
            db.session.commit()
            # The caller's ack can carry this snapshot instead of building it again.
            state = room_state.publish(session.id, now)
            db.session.expire_all()
            return Moved(db.session.get(TeachSession, session.id), state)
        db.session.rollback()
        db.session.expire_all()
    raise WrongPhase("The room changed at the same moment; try again.")


def catch_up(session: TeachSession, now: datetime) -> TeachSession:
    """Apply deadlines that passed (normally the job does it within a second)."""
    current, steps = room_clock.settle(session, now)
    if not steps:
        return session  # the usual case: nothing fell due, nothing to reload
    if room_clock.save_room(session, current, steps):
        db.session.commit()
        room_state.publish(session.id, now)
    else:
        db.session.rollback()
    db.session.expire_all()
    return db.session.get(TeachSession, session.id)


# --- joining and leaving ------------------------------------------------------


def join(user_id: int, session_id: Any, sid: str, now: datetime) -> dict[str, Any]:
    """A participant enters the room: presence, attendance, maybe the start."""
    session = catch_up(load_session(user_id, session_id), now)
    # A socket is in one session's room at a time: joining another leaves the
    # first (with its presence update).
    previous = presence.socket_session(sid)
    if previous is not None and previous != session.id:
        leave(user_id, previous, sid, now)
    participant = db.session.get(SessionParticipant, (session.id, user_id))
    if participant is None:
        participant = SessionParticipant(session_id=session.id, user_id=user_id)
        db.session.add(participant)
    if participant.joined_at is None and not session.is_over:
        participant.joined_at = now
    presence.set_socket_session(sid, session.id)
    db.session.commit()
    enter_session_room(sid, session.id)
    emit_to_session(
        session.id,
        "presence",
        {"session_id": session.id, "user_id": user_id, "online": True},
    )
    session, state = _after_presence_change(user_id, session.id, now)
    _tell_absent_partner(session, user_id, now)
    return state or room_state.snapshot(session, now)


def _after_presence_change(user_id: int, session_id: int, now: datetime) -> Moved:
    """Start (or arm, or disarm) the room when who is present changes."""
    session = load_session(user_id, session_id)
    if session.is_over:
        return Moved(session, None)
    online = presence.online_user_ids(session.id)
    both = len(session.member_ids()) == 2 and set(session.member_ids()) <= online

    def decide(current: TeachSession, room: rules.Room):
        if both:
            # Both here, even early: teaching starts at the start time (or now).
            return rules.both_present(room, now)
        return rules.someone_left(room, now)

    return _transition(user_id, session.id, now, decide)


def _tell_absent_partner(session: TeachSession, user_id: int, now: datetime) -> None:
    """The partner not in the room yet is told this one is waiting (once)."""
    if session.is_over or session.phase != "waiting":
        return
    online = presence.online_user_ids(session.id)
    me = db.session.get(User, user_id)
    for other in session.member_ids():
        if other != user_id and other not in online:
            notifications.notify(
                other,
                "partner_joined",
                f"{me.display_name} is in the teach-back room, waiting for you.",
                f"/sessions/{session.id}",
                dedupe_key=f"joined:{session.id}:{user_id}",
                now=now,
            )


def leave(user_id: int, session_id: Any, sid: str, now: datetime) -> None:
    """A participant leaves the room (the clock keeps running if it is live)."""
    session = load_session(user_id, session_id)
    if presence.socket_session(sid) != session.id:
        return  # this socket is not in that room: nothing to leave
    presence.set_socket_session(sid, None)
    db.session.commit()
    leave_session_room(sid, session.id)
    _announce_left(user_id, session.id, now)


def _announce_left(user_id: int, session_id: int, now: datetime) -> None:
    still_here = user_id in presence.online_user_ids(session_id)
    if still_here:
        return  # another tab of the same user is still in the room
    emit_to_session(
        session_id,
        "presence",
        {"session_id": session_id, "user_id": user_id, "online": False},
    )
    _after_presence_change(user_id, session_id, now)


def socket_closed(sid: str, now: datetime) -> None:
    """A socket went away: forget it and tell its room, if it was in one."""
    gone = presence.forget_socket(sid)
    if gone is not None and gone[1] is not None:
        try:
            _announce_left(gone[0], gone[1], now)
        except NotFound:
            pass  # the session or the membership is gone


# --- events during the session ------------------------------------------------


def set_topic(user_id: int, session_id: Any, title: Any, now: datetime) -> dict:
    """The teacher of the current or next turn names what they will explain."""
    session = catch_up(load_session(user_id, session_id), now)
    clean = _text(title, "title", MAX_TOPIC, required=True)
    if session.is_over or session.phase == "done":
        raise WrongPhase("This session is over.")
    first_open = session.current_turn + (1 if session.phase == "rating" else 0)
    target = next(
        (
            i
            for i in range(first_open, min(first_open + 2, session.turns))
            if _role(session, i, user_id) == "teacher"
        ),
        None,
    )
    if target is None:
        raise Forbidden("Only the teacher of the current or next turn sets its topic.")
    turn = ensure_turn(session, target)
    if turn is None:
        raise WrongPhase("That turn cannot be taught.")
    turn.topic = clean
    turn.topic_key = topic_key(clean)
    participant = db.session.get(SessionParticipant, (session.id, user_id))
    if participant is not None:
        participant.planned_topic = clean
    _bump_version(session.id)
    db.session.commit()
    room_state.publish(session.id, now)
    return {"turn": target, "topic": clean}


def _bump_version(session_id: int) -> None:
    """Every pushed state gets a new version, so clients can order them."""
    db.session.execute(
        update(TeachSession)
        .where(TeachSession.id == session_id)
        .values(version=TeachSession.version + 1)
        .execution_options(synchronize_session=False)
    )


def _bucket_allows(user_id: int) -> bool:
    with _buckets_lock:
        bucket = _buckets.setdefault(user_id, TokenBucket(SIGNAL_RATE, SIGNAL_BURST))
        return bucket.allow(time.monotonic())


def check_signal(
    user_id: int, kind: Any, word: Any, *, status: str, phase: str, role: str
) -> str | None:
    """Refuse a signal that may not be sent now; returns the cleaned word.

    The last check takes one of the user's tokens (about 5 signals a second).
    """
    if kind not in SIGNAL_KINDS:
        raise Invalid("kind must be jargon, lost, slower or clear.", field="kind")
    clean_word = _text(word, "word", MAX_WORD, required=False)
    if status != "live" or phase != "teaching":
        raise WrongPhase("Signals are sent while a turn is being taught.")
    if role != "listener":
        raise Forbidden("Only the listener sends signals.")
    if not _bucket_allows(user_id):
        raise RateLimited("Too many signals at once; one is enough.")
    return clean_word


def signal_record(
    session_id: int,
    turn: int,
    turn_id: int,
    turn_started: datetime,
    user_id: int,
    kind: str,
    word: str | None,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An accepted signal's row values and the payload relayed to the room."""
    offset_ms = max(0, int((now - turn_started).total_seconds() * 1000))
    values = {
        "session_id": session_id,
        "turn_id": turn_id,
        "user_id": user_id,
        "kind": kind,
        "word": word,
        "at": now,
        "offset_ms": offset_ms,
    }
    payload = {
        "session_id": session_id,
        "turn": turn,
        "kind": kind,
        "word": word,
        "at": now.isoformat(),
        "offset_ms": offset_ms,
    }
    return values, payload


def signal(
    user_id: int, session_id: Any, kind: Any, word: Any, now: datetime
) -> dict[str, Any]:
    """The listener reacts while the teacher explains: stored and relayed.

    The socket handler goes through `live_signals.send`, which takes this path
    only when a deadline has passed or the turn row is missing.
    """
    session = catch_up(load_session(user_id, session_id), now)
    clean_word = check_signal(
        user_id,
        kind,
        word,
        status=session.status,
        phase=session.phase,
        role=_role(session, session.current_turn, user_id),
    )
    turn = ensure_turn(session, session.current_turn)
    # Built before the commit, which would expire (and reload) the session.
    values, payload = signal_record(
        session.id,
        session.current_turn,
        turn.id,
        turn.started_at or now,
        user_id,
        kind,
        clean_word,
        now,
    )
    db.session.add(Signal(**values))
    db.session.commit()
    emit_to_session(payload["session_id"], "signal", payload)
    return payload


def finish_turn(user_id: int, session_id: Any, now: datetime) -> dict[str, Any]:
    """The teacher says "done": the rating phase of this turn starts."""

    def decide(session: TeachSession, room: rules.Room):
        if room.status != "live" or room.phase != "teaching":
            raise rules.RoomError("wrong_phase", "No turn is being taught now.")
        if _role(session, room.turn, user_id) != "teacher":
            raise Forbidden("Only the teacher finishes their turn.")
        return rules.finish_turn(room, now)

    session, state = _transition(user_id, session_id, now, decide)
    return state or room_state.snapshot(session, now)


def rate(
    user_id: int,
    session_id: Any,
    turn: Any,
    simplicity: Any,
    note: Any,
    jargon: Any,
    now: datetime,
) -> dict[str, Any]:
    """The listener rates a turn once, during its rating phase."""
    session = catch_up(load_session(user_id, session_id), now)
    index = _turn_index(session, turn)
    value = _simplicity(simplicity)
    clean_note = _text(note, "note", MAX_NOTE, required=False) or ""
    words = _jargon(jargon)
    if _role(session, index, user_id) != "listener":
        raise Forbidden("Only the listener of that turn rates it.")
    existing = _rating_of(session.id, index)
    if existing is not None:
        return _same_rating_or_refuse(existing, value, clean_note, words)
    turn_row = ensure_turn(session, index)
    if turn_row is None:
        raise WrongPhase("That turn cannot be rated.")

    def decide(current: TeachSession, room: rules.Room):
        if room.status != "live" or room.phase != "rating" or room.turn != index:
            raise rules.RoomError(
                "wrong_phase", "That turn is not in its rating phase."
            )
        return rules.rated(room, now)

    def store(current):
        db.session.add(
            Rating(
                turn_id=turn_row.id,
                session_id=current.id,
                rater_id=user_id,
                teacher_id=turn_row.teacher_id,
                simplicity=value,
                note=clean_note,
                jargon=words,
                created_at=now,
            )
        )
        db.session.flush()

    try:
        session = _transition(
            user_id, session.id, now, decide, before_commit=store
        ).session
    except IntegrityError:
        db.session.rollback()
        existing = _rating_of(session.id, index)
        if existing is None:
            raise
        return _same_rating_or_refuse(existing, value, clean_note, words)
    payload = {
        "session_id": session.id,
        "turn": index,
        "simplicity": value,
        "note": clean_note,
        "jargon": words,
    }
    emit_to_session(session.id, "rated", payload)
    _tell_teacher(session, turn_row, user_id, now)
    return payload


def _rating_of(session_id: int, index: int) -> Rating | None:
    return db.session.scalar(
        select(Rating)
        .join(Turn, Turn.id == Rating.turn_id)
        .where(Turn.session_id == session_id, Turn.index == index)
    )


def _same_rating_or_refuse(
    existing: Rating, value: int, note: str, words: list[str]
) -> dict[str, Any]:
    """Idempotent: the same rating again is fine; a different one is refused."""
    if (existing.simplicity, existing.note, list(existing.jargon or [])) != (
        value,
        note,
        words,
    ):
        raise AlreadyRated("This turn is already rated.")
    turn = db.session.get(Turn, existing.turn_id)
    return {
        "session_id": existing.session_id,
        "turn": turn.index,
        "simplicity": existing.simplicity,
        "note": existing.note,
        "jargon": list(existing.jargon or []),
    }


def _tell_teacher(session: TeachSession, turn: Turn, rater_id: int, now: datetime):
    """Notify the teacher without the figure (they rate themselves first)."""
    rater = db.session.get(User, rater_id)
    topic = f" of {turn.topic}" if turn.topic else ""
    notifications.notify(
        turn.teacher_id,
        "rating_received",
        f"{rater.display_name} rated your explanation{topic}.",
        f"/sessions/{session.id}/summary",
        dedupe_key=f"rated:{turn.id}",
        now=now,
    )


def _rating_window(session: TeachSession, turn: Turn, now: datetime) -> bool:
    """From the end of teaching until the turn's rating time has run out.

    The listener's rating may end the rating phase early; the teacher still has
    the rest of that time to write a summary and rate themselves.
    """
    if turn.teach_ends_at is None or turn.started_at is None:
        return False
    teaching_over = turn.index < session.current_turn or session.phase != "teaching"
    if not teaching_over or now < turn.teach_ends_at:
        return False
    return now <= turn.teach_ends_at + timedelta(seconds=session.rate_seconds)


def _teacher_turn(user_id: int, session_id: Any, turn: Any, now: datetime):
    session = catch_up(load_session(user_id, session_id), now)
    index = _turn_index(session, turn)
    if _role(session, index, user_id) != "teacher":
        raise Forbidden("Only the teacher of that turn can do this.")
    row = db.session.scalar(
        select(Turn).where(Turn.session_id == session.id, Turn.index == index)
    )
    return session, index, row


def summary(
    user_id: int, session_id: Any, turn: Any, text: Any, now: datetime
) -> dict[str, Any]:
    """The teacher's plain-language summary, written after teaching that turn."""
    session, index, row = _teacher_turn(user_id, session_id, turn, now)
    clean = _text(text, "text", MAX_SUMMARY, required=True)
    if row is None or not _rating_window(session, row, now):
        raise WrongPhase("Write the summary in the rating time after your turn.")
    row.summary = clean
    row.summary_at = now
    _bump_version(session.id)
    db.session.commit()
    room_state.publish(session.id, now)
    return {"session_id": session.id, "turn": index, "summary": clean}


def self_rate(
    user_id: int, session_id: Any, turn: Any, simplicity: Any, now: datetime
) -> dict[str, Any]:
    """The teacher rates their own explanation once, before seeing the partner's."""
    session, index, row = _teacher_turn(user_id, session_id, turn, now)
    value = _simplicity(simplicity)
    if row is not None and row.self_simplicity is not None:
        if row.self_simplicity != value:
            raise AlreadyRated("You already rated this explanation yourself.")
        return {"session_id": session.id, "turn": index, "simplicity": value}
    if row is None or row.started_at is None:
        raise WrongPhase("Rate yourself once you have taught this turn.")
    in_teaching = index == session.current_turn and session.phase == "teaching"
    if not in_teaching and not _rating_window(session, row, now):
        raise WrongPhase("The time to rate yourself on this turn has passed.")
    row.self_simplicity = value
    row.self_rated_at = now
    db.session.commit()
    return {"session_id": session.id, "turn": index, "simplicity": value}
