"""The teacher's sketch pad: `sketch` messages stored with the turn, relayed live."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ...domain.rate_limit import Buckets
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
from ..errors import Forbidden, Invalid, RateLimited, WrongPhase
from .inputs import load_session, role, turn_index
from .transition import settled
from .turns import ensure_turn

_buckets = Buckets(SKETCH_RATE, SKETCH_BURST)


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
        raise Invalid(
            f"The sketch is full ({MAX_POINTS_PER_TURN:,} points a turn): keep "
            "explaining in words.",
            field="strokes",
        )
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
    payload: dict[str, Any] = {
        "session_id": session.id,
        "turn": index,
        "strokes": clean,
    }
    if wipe:
        payload["clear"] = True
    emit_to_session(session.id, "sketch", payload, skip_sid=sid)
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
    session = load_session(user_id, session_id)
    index = turn_index(session, turn)
    turn_id = db.session.scalar(
        select(Turn.id).where(Turn.session_id == session.id, Turn.index == index)
    )
    if turn_id is None:
        return {"session_id": session.id, "turn": index, "strokes": []}
    strokes = strokes_of([turn_id])[turn_id]
    return {"session_id": session.id, "turn": index, "strokes": strokes}
