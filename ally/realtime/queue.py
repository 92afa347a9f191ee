"""The Socket.IO message queue (Redis), with an ear for other processes'
room changes.

A web process keeps what a signal's read said for a moment (services/room/
kept_facts.py) and forgets it when the room changes: its state (every change
sends the room's `session_state`) or who is in it (`presence`; the facts say
whether another process holds one of the room's sockets). When another process
made the change, that push reaches this one only through the queue, so the
queue's manager tells the kept facts before it delivers the push. Only a push
from another process counts: this process's own changes are forgotten where
they are made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from socketio import RedisManager

from ..push import PRESENCE, SESSION_STATE, session_of_room

log = logging.getLogger(__name__)

ROOM_CHANGES = frozenset({SESSION_STATE, PRESENCE})
# Flask-SocketIO's channel name, so processes built either way hear each other.
CHANNEL = "flask-socketio"


class RoomChangeQueue(RedisManager):
    """python-socketio's Redis manager that calls `on_room_change(session_id)`
    for each room change another process pushes."""

    def __init__(self, url: str, on_room_change: Callable[[int], None]) -> None:
        super().__init__(url, channel=CHANNEL)
        self.on_room_change = on_room_change

    def _handle_emit(self, message: dict[str, Any]) -> None:
        if (
            message.get("event") in ROOM_CHANGES
            and message.get("host_id") != self.host_id
        ):
            session_id = session_of_room(message.get("room"))
            if session_id is not None:
                try:
                    self.on_room_change(session_id)
                except Exception:  # noqa: BLE001 - the push is delivered anyway
                    log.exception("room change of session %s not heard", session_id)
        super()._handle_emit(message)
