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

from flask import Flask

from ..extensions import db, socketio
from ..models import utcnow
from ..services import call, room
from ..services.errors import ServiceError
from ..services.room import presence

log = logging.getLogger(__name__)


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message}


def _answer(
    name: str,
    call: Callable[[dict[str, Any]], dict[str, Any] | None],
    payload: object,
    extra: tuple,
) -> dict[str, Any]:
    """Payload shape checked, errors turned into acks, success as `ok: true`."""
    if not isinstance(payload, dict) or extra:
        return _refusal("invalid", "Send one JSON object as the payload.")
    try:
        answer = call(payload) or {}
    except ServiceError as error:
        db.session.rollback()
        return _refusal(error.code, error.message)
    except Exception:  # noqa: BLE001 - a bug must not cost the connection
        db.session.rollback()
        log.exception("room event %s failed", name)
        return _refusal("server_error", "Something went wrong on our side.")
    return {"ok": True, **answer}


def handler(
    function: Callable[[str, dict[str, Any]], dict[str, Any] | None],
) -> Callable[..., dict[str, Any]]:
    """Wrap a room handler: it gets the socket id and the payload object.

    Every room handler is registered the same way, on the Socket.IO server
    itself inside an app context, without Flask-SocketIO's per-event request
    context (cookie session, URL matching, request teardown): measured, that
    context cost as much CPU as the whole `signal` handler
    (docs/performance.md). A handler acting as the socket's user asks
    `user_of(sid)`, which refuses a socket whose login has ended.
    """

    @wraps(function)
    def wrapper(sid: str, payload: object = None, *extra: object) -> dict[str, Any]:
        return _answer(
            function.__name__, lambda data: function(sid, data), payload, extra
        )

    return wrapper


def user_of(sid: str) -> int:
    """The socket's user, whose login must still be valid (else forbidden)."""
    return presence.socket_user(sid)


@handler
def on_join_session(sid: str, data: dict) -> dict:
    """A participant opens the room; the ack carries the snapshot, the room
    gets `presence` (and `session_state` if teaching starts)."""
    state = room.join(user_of(sid), data.get("session_id"), sid, utcnow())
    return {"state": state}


@handler
def on_leave_session(sid: str, data: dict) -> None:
    """A participant leaves; the room gets `presence` with online false."""
    room.leave(user_of(sid), data.get("session_id"), sid, utcnow())


@handler
def on_set_topic(sid: str, data: dict) -> dict:
    """The teacher of the current or next turn names it; the room gets the state."""
    return room.set_topic(
        user_of(sid), data.get("session_id"), data.get("title"), utcnow()
    )


@handler
def on_signal(sid: str, data: dict) -> dict:
    """The listener reacts while the teacher explains; the room gets `signal`
    at once, the ack comes once it is committed (the service checks the login
    in the same read as the session)."""
    return {
        "signal": room.send_signal(
            sid,
            data.get("session_id"),
            data.get("kind"),
            data.get("word"),
            utcnow(),
            data.get("question"),
        )
    }


@handler
def on_finish_turn(sid: str, data: dict) -> dict:
    """The teacher is done explaining; the room gets the rating phase's state."""
    return {"state": room.finish_turn(user_of(sid), data.get("session_id"), utcnow())}


@handler
def on_rate(sid: str, data: dict) -> dict:
    """The listener rates the turn; the room gets `rated`, then the state (the
    next turn starts if the teacher is ready)."""
    rating = room.rate(
        user_of(sid),
        data.get("session_id"),
        data.get("turn"),
        data.get("simplicity"),
        data.get("note"),
        data.get("jargon"),
        utcnow(),
    )
    return {"rating": rating}


@handler
def on_summary(sid: str, data: dict) -> dict:
    """The teacher's plain-language summary of their turn; the room gets the state."""
    return room.summary(
        user_of(sid),
        data.get("session_id"),
        data.get("turn"),
        data.get("text"),
        utcnow(),
    )


@handler
def on_self_rate(sid: str, data: dict) -> dict:
    """The teacher rates their own explanation, once, before seeing the partner's
    (in the pause after the turn, it also says they are ready)."""
    return room.self_rate(
        user_of(sid),
        data.get("session_id"),
        data.get("turn"),
        data.get("simplicity"),
        utcnow(),
    )


@handler
def on_ready(sid: str, data: dict) -> dict:
    """The teacher is done reflecting on their turn; the room gets the state
    (the next turn starts if the listener has rated)."""
    return room.ready(user_of(sid), data.get("session_id"), data.get("turn"), utcnow())


@handler
def on_predict(sid: str, data: dict) -> dict:
    """Before a turn's teaching: its teacher says how simply they can explain
    it now (1-5, once)."""
    return room.predict(
        user_of(sid),
        data.get("session_id"),
        data.get("turn"),
        data.get("simplicity"),
        utcnow(),
    )


@handler
def on_sketch(sid: str, data: dict) -> dict:
    """The teacher draws from memory while teaching: stored with the turn,
    relayed to the room's other sockets; the ack comes once it is committed
    (the service checks the login in the same read as the session)."""
    return room.send_sketch(
        sid,
        data.get("session_id"),
        data.get("turn"),
        data.get("strokes"),
        data.get("clear"),
        utcnow(),
    )


@handler
def on_call(sid: str, data: dict) -> None:
    """A call message (offer, answer, candidate, hangup, media) for the partner;
    relayed to their sockets in this session only, never stored."""
    call.relay(
        user_of(sid),
        data.get("session_id"),
        data.get("kind"),
        data.get("data"),
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
    "ready": on_ready,
    "predict": on_predict,
    "sketch": on_sketch,
    "call": on_call,
}


def _in_app_context(app: Flask, function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    def run(sid: str, *args: object) -> Any:
        with app.app_context():
            return function(sid, *args)

    return run


def register_handlers(app: Flask) -> None:
    """Put the room's event handlers on the current Socket.IO server."""
    for name, function in EVENTS.items():
        socketio.server.on(name, _in_app_context(app, function), namespace="/")
