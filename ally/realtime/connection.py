"""Socket.IO connections: who may open one, and the user's own room."""

from __future__ import annotations

from flask import request
from flask_login import current_user
from flask_socketio import join_room

from ..extensions import db, socketio
from ..models import User
from ..services import tokens
from .emit import user_room
from .identity import forget_socket, remember_socket


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
        db.session.remove()
        raise ConnectionRefusedError("unauthorized")
    remember_socket(request.sid, user.id, user.auth_version)
    join_room(user_room(user.id))
    db.session.remove()


def on_disconnect(reason: object = None) -> None:
    """A socket closed: forget whose it was."""
    forget_socket(request.sid)


def register_handlers() -> None:
    """Put the connection handlers on the current Socket.IO server."""
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
