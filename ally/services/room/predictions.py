"""The teacher's prediction before a turn: "how simply can you explain this now?"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...domain.vocabulary import Role
from ...extensions import db
from ..errors import AlreadyRated, Forbidden, WrongPhase
from .inputs import role, simplicity, turn_index
from .transition import settled
from .turns import ensure_turn


def predict(
    user_id: int, session_id: Any, turn: Any, simplicity_value: Any, now: datetime
) -> dict[str, Any]:
    """Store the turn's teacher's 1-5 prediction, once, before its teaching starts.

    The same value again is a no-op (a page that retries); another one is
    refused. The value is the teacher's own: the snapshot only says a turn
    has one, so it cannot sway the listener.
    """
    session = settled(user_id, session_id, now)
    index = turn_index(session, turn)
    value = simplicity(simplicity_value)
    if role(session, index, user_id) != Role.TEACHER:
        raise Forbidden("Only the teacher of that turn predicts.")
    answer = {"session_id": session.id, "turn": index, "simplicity": value}
    row = ensure_turn(session, index)
    if row is not None and row.predicted_simplicity is not None:
        if row.predicted_simplicity != value:
            raise AlreadyRated("You already said how simply you could explain it.")
        return answer
    if session.is_over or row is None or row.started_at is not None:
        raise WrongPhase("Predict before the turn's teaching starts.")
    row.predicted_simplicity = value
    row.predicted_at = now
    db.session.commit()
    return answer
