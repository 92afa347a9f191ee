"""Socket.IO: binding the server to the app and registering the handlers.

`ally.push` (room names and every server→client emit) sits below the
services; the handler modules here sit above them, so they are imported only
when an app is being built.
"""

from __future__ import annotations

from flask import Flask

from ..extensions import socketio

# Engine.IO's limit on one incoming message (python-engineio's default is
# 1,000,000 bytes). The largest legal messages: a call offer of 32 KiB of SDP,
# which JSON can stretch to 6 bytes a byte (\u0001) = 196,608 bytes, and a
# sketch of 500 points (about 48 KB at full float precision). 256 KiB holds
# both with a margin, and is all a hostile client can make the server parse.
MAX_MESSAGE_BYTES = 256 * 1024


def init_realtime(app: Flask) -> None:
    """Bind Socket.IO; cross-origin sockets are refused unless configured."""
    from ..config import redis_url
    from ..push import queue_listening
    from ..services.room.kept_facts import keep_facts_hearing
    from . import connection, room_events
    from .origins import origin_check
    from .packets import GuardedPacket, guard_messages
    from .queue import RoomChangeQueue

    origins = [o.strip() for o in app.config["ALLY_SOCKET_ORIGINS"].split(",")]
    # The extension keeps its options between init_app calls (tests make many
    # apps in one process): an app without a queue must not get the message
    # queue manager an earlier app made.
    socketio.server_options.pop("client_manager", None)
    queue = {}
    url = redis_url(app.config)
    if url is not None:
        # Rooms change on other processes too: their snapshots, heard from
        # the queue, drop this process's kept facts (see kept_facts.py).
        kept = keep_facts_hearing(app, queue_listening)
        queue["client_manager"] = RoomChangeQueue(
            url, on_room_change=lambda session_id: kept.forget_sessions([session_id])
        )
    socketio.init_app(
        app,
        async_mode=app.config["ALLY_ASYNC_MODE"],
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
        # The site's own origin always; ALLY_SOCKET_ORIGINS adds others.
        cors_allowed_origins=origin_check(origins) if any(origins) else None,
        # One client's events are handled in the order it sent them (a
        # listener's "slower" then "clear" must reach the teacher that way);
        # different clients still run side by side.
        async_handlers=False,
        max_http_buffer_size=MAX_MESSAGE_BYTES,
        serializer=GuardedPacket,
        **queue,
    )
    guard_messages(socketio.server)
    # init_app made a new server: the handlers go on it (every app gets its own).
    connection.register_handlers()
    room_events.register_handlers(app)
