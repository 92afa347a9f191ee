"""The room's use cases for client events: join, leave, topic, finish, rate,
summary, self-rating, ready.

Every entry point (socket handlers today, anything else tomorrow) calls these
with the acting user's id and plain values. Each one loads the session through
the user's membership (someone else's session is `NotFound`, revealing
nothing), validates the payload, lets `domain.room` decide, stores the result
with a compare-and-set on the session's version, commits, and only then pushes
events to the room. A refused event raises a `ServiceError` and writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...domain import room as rules
from ...domain.review import topic_key
from ...domain.vocabulary import Phase, Role, Status
from ...extensions import db
from ...models import Rating, SessionParticipant, TeachSession, Turn, User
from ...push import PRESENCE, emit_to_session, enter_session_room, leave_session_room
from .. import notifications, reteach
from ..errors import AlreadyRated, Forbidden, NotFound, WrongPhase
from .clock import room_of
from .inputs import (
    MAX_NOTE,
    MAX_SUMMARY,
    MAX_TOPIC,
    jargon_words,
    load_session,
    role,
    simplicity,
    text,
    turn_index,
)
from .presence import forget_socket, online_user_ids, set_socket_session, socket_session
from .signal_store import flush
from .snapshots import publish, snapshot, snapshots
from .transition import Moved, bump_version, settled, transition
from .turns import ensure_turn

# --- joining and leaving ------------------------------------------------------


def join(user_id: int, session_id: Any, sid: str, now: datetime) -> dict[str, Any]:
    """A participant enters the room: presence, attendance, maybe the start."""
    # The snapshot's signal tally counts stored signals: the queued ones first.
    flush()
    session = settled(user_id, session_id, now)
    room = session.id
    # A socket is in one session's room at a time: joining another leaves the
    # first (with its presence update).
    previous = socket_session(sid)
    if previous is not None and previous != room:
        leave(user_id, previous, sid, now)
    participant = db.session.get(SessionParticipant, (room, user_id))
    if participant is None:
        participant = SessionParticipant(session_id=room, user_id=user_id)
        db.session.add(participant)
    if participant.joined_at is None and not session.is_over:
        participant.joined_at = now
    set_socket_session(sid, room)
    db.session.commit()
    enter_session_room(sid, room, user_id)
    emit_to_session(
        room, PRESENCE, {"session_id": room, "user_id": user_id, "online": True}
    )
    moved, absent = _after_presence_change(user_id, room, now)
    _tell_absent_partner(room, user_id, absent, now)
    # The committed session is not read again: the ack is built from rows.
    return moved.state or snapshots([room], now)[room]


def _after_presence_change(
    user_id: int, session_id: int, now: datetime
) -> tuple[Moved, list[int]]:
    """Start (or arm, or disarm) the room when who is present changes; also
    the members a waiting room is still waiting for."""
    session = load_session(user_id, session_id)
    if session.is_over:
        return Moved(session, None), []
    online = online_user_ids(session.id)
    members = session.member_ids()
    both = len(members) == 2 and set(members) <= online
    absent = [m for m in members if m != user_id and m not in online]
    phase = session.phase

    def decide(current: TeachSession, room: rules.Room):
        if both:
            # Both here, even early: teaching starts at the start time (or now).
            return rules.both_present(room, now)
        return rules.someone_left(room, now)

    moved = transition(user_id, session.id, now, decide)
    if moved.state is not None:
        phase = moved.state["phase"]
    return moved, absent if phase == Phase.WAITING else []


def _tell_absent_partner(
    session_id: int, user_id: int, absent: list[int], now: datetime
) -> None:
    """The partner not in the waiting room yet is told this one is there (once)."""
    if not absent:
        return
    me = db.session.get(User, user_id)
    for other in absent:
        notifications.notify(
            other,
            "partner_joined",
            f"{me.display_name} is in the teach-back room, waiting for you.",
            f"/sessions/{session_id}",
            dedupe_key=f"joined:{session_id}:{user_id}",
            now=now,
        )


def leave(user_id: int, session_id: Any, sid: str, now: datetime) -> None:
    """A participant leaves the room (the clock keeps running if it is live)."""
    session = load_session(user_id, session_id)
    if socket_session(sid) != session.id:
        return  # this socket is not in that room: nothing to leave
    set_socket_session(sid, None)
    db.session.commit()
    leave_session_room(sid, session.id, user_id)
    announce_left(user_id, session.id, now)


def announce_left(user_id: int, session_id: int, now: datetime) -> None:
    """Tell the room a user is gone, unless another of their sockets is there."""
    still_here = user_id in online_user_ids(session_id)
    if still_here:
        return  # another tab of the same user is still in the room
    emit_to_session(
        session_id,
        PRESENCE,
        {"session_id": session_id, "user_id": user_id, "online": False},
    )
    _after_presence_change(user_id, session_id, now)


def sockets_gone(gone: list[tuple[int, int | None]], now: datetime) -> None:
    """Sockets that closed or died: tell each room they were in, once per user."""
    for user_id, session_id in sorted(set(gone), key=lambda g: (g[1] or 0, g[0])):
        if session_id is None:
            continue
        try:
            announce_left(user_id, session_id, now)
        except NotFound:
            pass  # the session or the membership is gone


def socket_closed(sid: str, now: datetime) -> None:
    """A socket went away: forget it and tell its room, if it was in one."""
    gone = forget_socket(sid)
    if gone is not None:
        sockets_gone([gone], now)


# --- events during the session ------------------------------------------------


def set_topic(user_id: int, session_id: Any, title: Any, now: datetime) -> dict:
    """The teacher of the current or next turn names what they will explain."""
    session = settled(user_id, session_id, now)
    clean = text(title, "title", MAX_TOPIC, required=True)
    if session.is_over or session.phase == Phase.DONE:
        raise WrongPhase("This session is over.")
    target = rules.topic_turn(
        room_of(session), session.first_teacher_id, session.second_teacher_id, user_id
    )
    if target is None:
        raise Forbidden("Only the teacher of the current or next turn sets its topic.")
    turn = ensure_turn(session, target)
    if turn is None:
        raise WrongPhase("That turn cannot be taught.")
    turn.topic = clean
    turn.topic_key = topic_key(clean)
    if target < 2:
        # The session page's "what I will teach" is the first turn's topic.
        participant = db.session.get(SessionParticipant, (session.id, user_id))
        if participant is not None:
            participant.planned_topic = clean
    bump_version(session.id)
    db.session.commit()
    publish(session.id, now)
    return {"turn": target, "topic": clean}


def finish_turn(user_id: int, session_id: Any, now: datetime) -> dict[str, Any]:
    """The teacher says "done": the rating phase of this turn starts."""

    def decide(session: TeachSession, room: rules.Room):
        if room.status != Status.LIVE or room.phase != Phase.TEACHING:
            raise rules.RoomError("wrong_phase", "No turn is being taught now.")
        if role(session, room.turn, user_id) != Role.TEACHER:
            raise Forbidden("Only the teacher finishes their turn.")
        return rules.finish_turn(room, now)

    session, state = transition(user_id, session_id, now, decide)
    return state or snapshot(session, now)


def _turn_row(session_id: int, index: int) -> Turn | None:
    """The turn as stored now (fresh: a racing change may have just landed)."""
    return db.session.scalar(
        select(Turn)
        .where(Turn.session_id == session_id, Turn.index == index)
        .execution_options(populate_existing=True)
    )


def _in_rating_of(room: rules.Room, index: int) -> None:
    if room.status != Status.LIVE or room.phase != Phase.RATING or room.turn != index:
        raise rules.RoomError("wrong_phase", "That turn is not in its rating phase.")


def rate(
    user_id: int,
    session_id: Any,
    turn: Any,
    simplicity_value: Any,
    note: Any,
    jargon: Any,
    now: datetime,
) -> dict[str, Any]:
    """The listener rates a turn once, during its rating phase; the pause
    ends too when the teacher is done reflecting."""
    session = settled(user_id, session_id, now)
    index = turn_index(session, turn)
    value = simplicity(simplicity_value)
    clean_note = text(note, "note", MAX_NOTE, required=False) or ""
    words = jargon_words(jargon)
    if role(session, index, user_id) != Role.LISTENER:
        raise Forbidden("Only the listener of that turn rates it.")
    existing = _rating_of(session.id, index)
    if existing is not None:
        return _same_rating_or_refuse(existing, value, clean_note, words)
    turn_row = ensure_turn(session, index)
    if turn_row is None:
        raise WrongPhase("That turn cannot be rated.")

    fresh: list[Turn] = []

    def decide(current: TeachSession, room: rules.Room):
        _in_rating_of(room, index)
        row = _turn_row(current.id, index)
        fresh[:] = [row]
        return rules.rated(room, now, teacher_ready=row.teacher_ready_at is not None)

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
        # The turn as decide() read it in this transaction.
        reteach.review(turn_row.id, value, now, turn=fresh[0])

    try:
        session = transition(user_id, session.id, now, decide, before_commit=store)[0]
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


def reflection_ends_at(session: TeachSession, turn: Turn) -> datetime | None:
    """When the teacher's time to reflect on a turn closes: its rating time
    after teaching ended, even if the pause ended earlier."""
    if turn.teach_ends_at is None or turn.started_at is None:
        return None
    return turn.teach_ends_at + timedelta(seconds=session.rate_seconds)


def _reflecting(session: TeachSession, turn: Turn, now: datetime) -> bool:
    """From the end of teaching until the turn's reflection time has run out."""
    closes = reflection_ends_at(session, turn)
    if closes is None:
        return False
    teaching_over = turn.index < session.current_turn or session.phase != Phase.TEACHING
    return teaching_over and turn.teach_ends_at <= now <= closes


def _teacher_turn(user_id: int, session_id: Any, turn: Any, now: datetime):
    session = settled(user_id, session_id, now)
    index = turn_index(session, turn)
    if role(session, index, user_id) != Role.TEACHER:
        raise Forbidden("Only the teacher of that turn can do this.")
    return session, index, _turn_row(session.id, index)


def summary(
    user_id: int, session_id: Any, turn: Any, text_value: Any, now: datetime
) -> dict[str, Any]:
    """The teacher's plain-language summary, written after teaching that turn."""
    session, index, row = _teacher_turn(user_id, session_id, turn, now)
    clean = text(text_value, "text", MAX_SUMMARY, required=True)
    if row is None or not _reflecting(session, row, now):
        raise WrongPhase("Write the summary in the rating time after your turn.")
    row.summary = clean
    row.summary_at = now
    bump_version(session.id)
    db.session.commit()
    publish(session.id, now)
    return {"session_id": session.id, "turn": index, "summary": clean}


def self_rate(
    user_id: int, session_id: Any, turn: Any, simplicity_value: Any, now: datetime
) -> dict[str, Any]:
    """The teacher rates their own explanation once, before seeing the partner's.

    Given in the turn's rating phase it also says the teacher is ready.
    """
    session, index, row = _teacher_turn(user_id, session_id, turn, now)
    value = simplicity(simplicity_value)
    answer = {"session_id": session.id, "turn": index, "simplicity": value}
    if row is not None and row.self_simplicity is not None:
        if row.self_simplicity != value:
            raise AlreadyRated("You already rated this explanation yourself.")
        return answer
    if row is None or row.started_at is None:
        raise WrongPhase("Rate yourself once you have taught this turn.")
    if row.teacher_ready_at is not None:
        # Said done: the partner's rating is shown now, so a self-rating
        # would no longer be made before seeing it.
        raise WrongPhase("You said you were done with this turn.")
    in_teaching = index == session.current_turn and session.phase == Phase.TEACHING
    in_pause = index == session.current_turn and session.phase == Phase.RATING
    if not in_teaching and not _reflecting(session, row, now):
        raise WrongPhase("The time to rate yourself on this turn has passed.")
    if in_pause:
        _mark_ready(user_id, session.id, index, now, self_simplicity=value)
        return answer
    row.self_simplicity = value
    row.self_rated_at = now
    db.session.commit()
    return answer


def ready(user_id: int, session_id: Any, turn: Any, now: datetime) -> dict[str, Any]:
    """The teacher is done reflecting on their turn: the pause ends as soon as
    the listener has rated too."""
    session, index, row = _teacher_turn(user_id, session_id, turn, now)
    if row is not None and row.teacher_ready_at is not None:
        return {"session_id": session.id, "turn": index}  # said already: fine
    moved = _mark_ready(user_id, session.id, index, now)
    return {"session_id": session.id, "turn": index, "state": moved.state}


def _mark_ready(
    user_id: int,
    session_id: int,
    index: int,
    now: datetime,
    *,
    self_simplicity: int | None = None,
) -> Moved:
    """Record that the teacher is ready (and their self-rating), in the same
    compare-and-set as the pause's end when the listener has rated."""

    def decide(current: TeachSession, room: rules.Room):
        _in_rating_of(room, index)
        listener_rated = _rating_of(current.id, index) is not None
        return rules.teacher_ready(room, now, listener_rated=listener_rated)

    def store(current: TeachSession) -> None:
        row = _turn_row(current.id, index)
        row.teacher_ready_at = now
        if self_simplicity is not None:
            row.self_simplicity = self_simplicity
            row.self_rated_at = now
        db.session.flush()

    return transition(user_id, session_id, now, decide, before_commit=store)
