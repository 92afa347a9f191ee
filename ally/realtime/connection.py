"""Socket.IO connections: who may open one, and the user's own room."""

from __future__ import annotations

import logging

from flask import current_app, request
from flask_login import current_user
from flask_socketio import join_room

from ..extensions import db, socketio
from ..models import User, utcnow
from ..push import user_room
from ..services import accounts, room, tokens
from ..services.room import presence

log = logging.getLogger(__name__)


def _socket_login(auth: object) -> tuple[User, int | None, int | None] | None:
    """The user behind a new socket, with the login or API token it came
    through: a bearer token in `auth`, else the cookie."""
    if isinstance(auth, dict) and auth.get("token") is not None:
        raw = auth["token"]
        found = tokens.token_and_user(raw) if isinstance(raw, str) else None
        if found is None:
            return None
        token, user = found
        return user, None, token.id
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        return user, user.login_id, None
    return None


def on_connect(auth: object = None) -> None:
    """Any client connects: only a logged-in user; the socket joins their room.

    The socket's row names the login or token it came through, so ending that
    one (logout, a revoked token) refuses and closes exactly its sockets."""
    found = _socket_login(auth)
    if found is None:
        raise ConnectionRefusedError("unauthorized")
    user, login_id, api_token_id = found
    presence.register_socket(
        request.sid,
        user.id,
        user.auth_version,
        current_app.config["ALLY_INSTANCE"],
        utcnow(),
        login_id=login_id,
        api_token_id=api_token_id,
    )
    # A logout racing this handshake may have ended the login after it was
    # loaded but before the row above existed for it to find.
    if not accounts.credential_alive(login_id, api_token_id):
        presence.forget_socket(request.sid)
        raise ConnectionRefusedError("unauthorized")
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
