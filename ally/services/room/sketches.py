"""The teacher's sketch pad: `sketch` messages stored with the turn, relayed live.

One use case with two routes, like `signal`: the fast one reads the socket,
the session and the turn in one statement, relays at once and acknowledges
once the row is committed in a batch (signal_store); when a deadline has
passed, the turn row is missing or the message is not for the current turn,
the ORM route applies the clock first and answers in its own transaction.
A drawing teacher sends ten messages a second: measured in
docs/performance.md, the ORM route cost ~3 ms of CPU a message.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ...domain import room as rules
from ...domain.sketch import (
    MAX_POINTS_PER_TURN,
    SKETCH_BURST,
    SKETCH_RATE,
    BadSketch,
    clean_strokes,
)
from ...domain.vocabulary import Phase, Role, Status
from ...extensions import db
from ...models import Sketch, Turn
from ...push import emit_to_session
from ..errors import Forbidden, Invalid, NotFound, RateLimited, WrongPhase
from ..rate_buckets import buckets
from .inputs import check_session_id, is_plausible_id, load_session, role, turn_index
from .presence import LOGIN_ENDED
from .signal_store import Facts, SketchFull, flush, queue_sketch, read_facts
from .transition import settled
from .turns import ensure_turn

_buckets = buckets("sketch", SKETCH_RATE, SKETCH_BURST)

FULL_MESSAGE = (
    f"The sketch is full ({MAX_POINTS_PER_TURN:,} points a turn): keep "
    "explaining in words."
)


def send(
    sid: str,
    session_id: Any,
    turn: Any,
    strokes: Any,
    clear: Any,
    now: datetime,
) -> dict[str, Any]:
    """The teacher's drawing from socket `sid`: checked, relayed, committed."""
    # The same order of refusals as every other event: the login, then the id.
    facts = read_facts(sid, session_id if is_plausible_id(session_id) else 0)
    if facts is None or facts.socket_auth_version != facts.user_auth_version:
        raise Forbidden(LOGIN_ENDED)
    check_session_id(session_id)
    if not _fast(facts, turn, now):
        return sketch(facts.user_id, sid, session_id, turn, strokes, clear, now)
    try:
        clean, points, wipe = clean_strokes(strokes, clear)
    except BadSketch as error:
        raise Invalid(str(error), field="strokes") from None
    who = rules.role_of(
        turn, facts.first_teacher_id, facts.second_teacher_id, facts.user_id
    )
    if who != Role.TEACHER:
        raise Forbidden("Only the teacher draws on the sketch pad.")
    if not _buckets.allow(facts.user_id, time.monotonic()):
        raise RateLimited("Too many drawings at once.")
    values = {
        "turn_id": facts.turn_id,
        "session_id": session_id,
        "user_id": facts.user_id,
        "strokes": clean,
        "points": points,
        "clear": wipe,
        "at": now,
    }
    try:
        queued = queue_sketch(values, facts.turn_sketch_points or 0)
    except SketchFull:
        raise Invalid(FULL_MESSAGE, field="strokes") from None
    # The listener sees it at once; the teacher's ack waits for the commit.
    emit_to_session(
        session_id,
        "sketch",
        _payload(session_id, turn, clean, wipe),
        sid,
        here_only=not facts.room_elsewhere,
    )
    try:
        counted = queued.wait()
    except SketchFull:
        raise Invalid(FULL_MESSAGE, field="strokes") from None
    return {"session_id": session_id, "turn": turn, "points": counted}


def _fast(facts: Facts, turn: Any, now: datetime) -> bool:
    """Whether the fast route answers: the current turn, taught, not yet due."""
    members = (facts.first_teacher_id, facts.second_teacher_id)
    if facts.session_id is None or facts.user_id not in members:
        raise NotFound("No such session.")
    due = facts.phase_ends_at is not None and facts.phase_ends_at <= now
    current = (
        isinstance(turn, int)
        and not isinstance(turn, bool)
        and turn == facts.current_turn
    )
    teaching = facts.status == Status.LIVE and facts.phase == Phase.TEACHING
    return current and teaching and not due and facts.turn_id is not None


def _payload(
    session_id: int, turn: int, strokes: list[dict[str, Any]], wipe: bool
) -> dict[str, Any]:
    """The `sketch` event the room's other sockets get."""
    payload: dict[str, Any] = {
        "session_id": session_id,
        "turn": turn,
        "strokes": strokes,
    }
    if wipe:
        payload["clear"] = True
    return payload


def sketch(
    user_id: int,
    sid: str,
    session_id: Any,
    turn: Any,
    strokes: Any,
    clear: Any,
    now: datetime,
) -> dict[str, Any]:
    """Store a message of the pad (strokes, or a clear) and relay it to the room.

    Only the current teacher, while teaching; the turn's points are counted in
    the same UPDATE that refuses a turn that would go over its bound.
    """
    session = settled(user_id, session_id, now)
    index = turn_index(session, turn)
    try:
        clean, points, wipe = clean_strokes(strokes, clear)
    except BadSketch as error:
        raise Invalid(str(error), field="strokes") from None
    if role(session, index, user_id) != Role.TEACHER:
        raise Forbidden("Only the teacher draws on the sketch pad.")
    teaching = session.status == Status.LIVE and session.phase == Phase.TEACHING
    if not teaching or index != session.current_turn:
        raise WrongPhase("You draw while you teach this turn.")
    if not _buckets.allow(user_id, time.monotonic()):
        raise RateLimited("Too many drawings at once.")
    row = ensure_turn(session, index)
    counted = db.session.execute(
        update(Turn)
        .where(Turn.id == row.id, Turn.sketch_points + points <= MAX_POINTS_PER_TURN)
        .values(sketch_points=Turn.sketch_points + points)
        .returning(Turn.sketch_points)
        .execution_options(synchronize_session=False)
    ).scalar()
    if counted is None:
        db.session.rollback()
        raise Invalid(FULL_MESSAGE, field="strokes")
    db.session.add(
        Sketch(
            turn_id=row.id,
            session_id=session.id,
            user_id=user_id,
            strokes=clean,
            points=points,
            clear=wipe,
            at=now,
        )
    )
    db.session.commit()
    emit_to_session(session.id, "sketch", _payload(session.id, index, clean, wipe), sid)
    return {"session_id": session.id, "turn": index, "points": counted}


def strokes_of(turn_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each turn's strokes since its last clear, in the order they were drawn."""
    drawn: dict[int, list[dict[str, Any]]] = {turn_id: [] for turn_id in turn_ids}
    if not turn_ids:
        return drawn
    rows = db.session.execute(
        select(Sketch.turn_id, Sketch.strokes, Sketch.clear)
        .where(Sketch.turn_id.in_(turn_ids))
        .order_by(Sketch.turn_id, Sketch.id)
    )
    for turn_id, strokes, wipe in rows:
        if wipe:
            drawn[turn_id] = []
        drawn[turn_id].extend(strokes)
    return drawn


def turn_sketch(user_id: int, session_id: Any, turn: Any) -> dict[str, Any]:
    """A member's view of one turn's sketch (what a page draws on arrival)."""
    flush()  # the strokes still queued first: they were acknowledged
    session = load_session(user_id, session_id)
    index = turn_index(session, turn)
    turn_id = db.session.scalar(
        select(Turn.id).where(Turn.session_id == session.id, Turn.index == index)
    )
    if turn_id is None:
        return {"session_id": session.id, "turn": index, "strokes": []}
    strokes = strokes_of([turn_id])[turn_id]
    return {"session_id": session.id, "turn": index, "strokes": strokes}
