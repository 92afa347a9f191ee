"""Socket.IO: binding the server to the app (handlers arrive with the room)."""

from __future__ import annotations

from flask import Flask

from ..extensions import socketio


def init_realtime(app: Flask) -> None:
    """Bind Socket.IO; cross-origin sockets are refused unless configured."""
    origins = [o.strip() for o in app.config["ALLY_SOCKET_ORIGINS"].split(",")]
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
        # None = same origin only (Flask-SocketIO compares with the Host header).
        cors_allowed_origins=[o for o in origins if o] or None,
    )
