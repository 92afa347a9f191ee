"""The room protocol (DESIGN.md §6): one handler per client event.

Each handler checks the payload is an object, finds the socket's user (whose
login must still be valid), calls one service, and answers with an ack:
`{"ok": true, ...}` or `{"ok": false, "error": CODE, "message": TEXT}`. Errors
are acks, never exceptions, and the connection stays usable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request

from ..extensions import db, socketio
from ..models import utcnow
from ..services import presence, room
from ..services.errors import ServiceError

log = logging.getLogger(__name__)


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message}


def event(
    handler: Callable[[int, dict[str, Any]], dict[str, Any] | None],
) -> Callable[..., dict[str, Any]]:
    """Wrap a handler: payload shape, the socket's user, errors as acks."""

    @wraps(handler)
    def wrapper(payload: object = None, *extra: object) -> dict[str, Any]:
        if not isinstance(payload, dict) or extra:
            return _refusal("invalid", "Send one JSON object as the payload.")
        try:
            user_id = presence.socket_user(request.sid)
            answer = handler(user_id, payload) or {}
        except ServiceError as error:
            db.session.rollback()
            return _refusal(error.code, error.message)
        except Exception:  # noqa: BLE001 - a bug must not cost the connection
            db.session.rollback()
            log.exception("room event %s failed", handler.__name__)
            return _refusal("server_error", "Something went wrong on our side.")
        return {"ok": True, **answer}

    return wrapper


@event
def on_join_session(user_id: int, data: dict) -> dict:
    """A participant opens the room; the ack carries the snapshot, the room
    gets `presence` (and `session_state` if teaching starts)."""
    state = room.join(user_id, data.get("session_id"), request.sid, utcnow())
    return {"state": state}


@event
def on_leave_session(user_id: int, data: dict) -> None:
    """A participant leaves; the room gets `presence` with online false."""
    room.leave(user_id, data.get("session_id"), request.sid, utcnow())


@event
def on_set_topic(user_id: int, data: dict) -> dict:
    """The teacher of the current or next turn names it; the room gets the state."""
    return room.set_topic(user_id, data.get("session_id"), data.get("title"), utcnow())


@event
def on_signal(user_id: int, data: dict) -> dict:
    """The listener reacts while the teacher explains; the room gets `signal`."""
    return {
        "signal": room.signal(
            user_id,
            data.get("session_id"),
            data.get("kind"),
            data.get("word"),
            utcnow(),
        )
    }


@event
def on_finish_turn(user_id: int, data: dict) -> dict:
    """The teacher is done explaining; the room gets the rating phase's state."""
    return {"state": room.finish_turn(user_id, data.get("session_id"), utcnow())}


@event
def on_rate(user_id: int, data: dict) -> dict:
    """The listener rates the turn; the room gets `rated`, then the next state."""
    rating = room.rate(
        user_id,
        data.get("session_id"),
        data.get("turn"),
        data.get("simplicity"),
        data.get("note"),
        data.get("jargon"),
        utcnow(),
    )
    return {"rating": rating}


@event
def on_summary(user_id: int, data: dict) -> dict:
    """The teacher's plain-language summary of their turn; the room gets the state."""
    return room.summary(
        user_id, data.get("session_id"), data.get("turn"), data.get("text"), utcnow()
    )


@event
def on_self_rate(user_id: int, data: dict) -> dict:
    """The teacher rates their own explanation, once, before seeing the partner's."""
    return room.self_rate(
        user_id,
        data.get("session_id"),
        data.get("turn"),
        data.get("simplicity"),
        utcnow(),
    )


EVENTS = {
    "join_session": on_join_session,
    "leave_session": on_leave_session,
    "set_topic": on_set_topic,
    "signal": on_signal,
    "finish_turn": on_finish_turn,
    "rate": on_rate,
    "summary": on_summary,
    "self_rate": on_self_rate,
}


def register_handlers() -> None:
    """Put the room's event handlers on the current Socket.IO server."""
    for name, handler in EVENTS.items():
        socketio.on_event(name, handler)
