"""Socket.IO connections: who may open one, and the user's own room."""

from __future__ import annotations

import logging

from flask import current_app, request
from flask_login import current_user
from flask_socketio import join_room

from ..extensions import db, socketio
from ..models import User, utcnow
from ..push import user_room
from ..services import room, tokens
from ..services.room import presence

log = logging.getLogger(__name__)


def _socket_user(auth: object) -> User | None:
    """The user behind a new socket: a bearer token in `auth`, else the cookie."""
    if isinstance(auth, dict) and auth.get("token") is not None:
        raw = auth["token"]
        return tokens.user_for_token(raw) if isinstance(raw, str) else None
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def on_connect(auth: object = None) -> None:
    """Any client connects: only a logged-in user; the socket joins their room."""
    user = _socket_user(auth)
    if user is None:
        raise ConnectionRefusedError("unauthorized")
    presence.register_socket(
        request.sid,
        user.id,
        user.auth_version,
        current_app.config["ALLY_INSTANCE"],
        utcnow(),
    )
    join_room(user_room(user.id))


def on_disconnect(reason: object = None) -> None:
    """A socket closed: forget it, and tell its session's room it left."""
    try:
        room.socket_closed(request.sid, utcnow())
    except Exception:  # noqa: BLE001 - a closing socket must never raise
        db.session.rollback()
        log.exception("cleanup of socket %s failed", request.sid)


def register_handlers() -> None:
    """Put the connection handlers on the current Socket.IO server."""
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
