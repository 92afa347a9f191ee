"""Every server→client emit goes through here: room names and payloads."""

from __future__ import annotations

import logging
from typing import Any

from socketio import RedisManager

from .extensions import socketio

log = logging.getLogger(__name__)

# The event that carries a room's stored state; every change to a room sends it.
SESSION_STATE = "session_state"
# The event that says a participant came or went (its socket joined or left).
PRESENCE = "presence"
_SESSION_ROOM = "session:"


def user_room(user_id: int) -> str:
    """The room every socket of one user joins."""
    return f"user:{user_id}"


def session_room(session_id: int) -> str:
    """The room of one teach session."""
    return f"{_SESSION_ROOM}{session_id}"


def session_of_room(room: object) -> int | None:
    """The session whose room `room` is (None for any other room)."""
    if not isinstance(room, str) or not room.startswith(_SESSION_ROOM):
        return None
    digits = room[len(_SESSION_ROOM) :]
    return int(digits) if digits.isascii() and digits.isdigit() else None


def member_room(session_id: int, user_id: int) -> str:
    """The room of one participant's sockets inside one session (the call)."""
    return f"{_SESSION_ROOM}{session_id}:user:{user_id}"


def emit_to_user(user_id: int, event: str, payload: dict[str, Any]) -> None:
    """Send an event to all of a user's sockets (through the queue if configured)."""
    _emit(event, payload, user_room(user_id))


def emit_to_session(
    session_id: int,
    event: str,
    payload: dict[str, Any],
    skip_sid: str | None = None,
    *,
    here_only: bool = False,
) -> None:
    """Send an event to everyone in a session's room (but `skip_sid`);
    `here_only` when no other process holds a socket in the room."""
    _emit(event, payload, session_room(session_id), skip_sid, here_only)


def emit_to_member(
    session_id: int, user_id: int, event: str, payload: dict[str, Any]
) -> None:
    """Send an event to one participant's sockets in one session's room."""
    _emit(event, payload, member_room(session_id, user_id))


def _emit(
    event: str,
    payload: dict[str, Any],
    room: str,
    skip_sid: str | None = None,
    here_only: bool = False,
) -> None:
    # A push is a courtesy on top of stored state: a failure to deliver must not
    # undo work that is already committed.
    if here_only:
        # Not published: every other process would decode it for nothing.
        emit_here(event, payload, to=room, skip_sid=skip_sid)
        return
    try:
        socketio.emit(event, payload, to=room, skip_sid=skip_sid)
    except Exception:  # noqa: BLE001 - logged, never raised into a use case
        log.exception("could not emit %s to %s", event, room)


def emit_here(
    event: str,
    payload: dict[str, Any],
    to: str | None = None,
    skip_sid: str | None = None,
) -> None:
    """Send an event to every socket of this process (or to its socket or
    room `to`, but `skip_sid`), never through the queue."""
    # Said when the queue itself may be down (the service watch): python-
    # socketio's `ignore_queue` takes the manager's local path alone
    # (PubSubManager.emit -> Manager.emit: this process's sockets) and
    # publishes nothing, so it neither waits on nor fails with Redis.
    try:
        socketio.server.emit(
            event, payload, to=to, skip_sid=skip_sid, namespace="/", ignore_queue=True
        )
    except Exception:  # noqa: BLE001 - logged, never raised into a use case
        log.exception("could not emit %s here", event)


def sockets_here() -> set[str]:
    """The sids of every socket this process holds."""
    # Every socket is in the namespace's room None (python-socketio).
    return {sid for sid, _ in socketio.server.manager.get_participants("/", None)}


def queue_listening() -> bool:
    """Whether this process hears the message queue (True without one)."""
    # python-socketio's RedisManager subscribes again by itself after Redis
    # returns, but only after its growing retry pause (1, 2, 4 ... 60 s);
    # until then pushes from other processes are still lost here. Its pubsub
    # is subscribed on a live connection once it listens again.
    manager = socketio.server.manager
    if not isinstance(manager, RedisManager) or manager.write_only:
        return True
    pubsub = getattr(manager, "pubsub", None)  # made by its first connect
    connection = getattr(pubsub, "connection", None)
    return bool(
        pubsub is not None
        and pubsub.subscribed
        and connection is not None
        and connection.is_connected
    )


def enter_session_room(sid: str, session_id: int, user_id: int) -> None:
    """Put one socket (of this process) into a session's room and its user's
    room within it."""
    socketio.server.enter_room(sid, session_room(session_id), namespace="/")
    socketio.server.enter_room(sid, member_room(session_id, user_id), namespace="/")


def leave_session_room(sid: str, session_id: int, user_id: int) -> None:
    """Take one socket (of this process) out of a session's rooms."""
    socketio.server.leave_room(sid, session_room(session_id), namespace="/")
    socketio.server.leave_room(sid, member_room(session_id, user_id), namespace="/")


def disconnect_socket(sid: str) -> None:
    """Close a socket, on whichever process holds it (through the queue if any)."""
    try:
        socketio.server.disconnect(sid, namespace="/")
    except Exception:  # noqa: BLE001 - an already closed socket is fine
        log.exception("could not disconnect %s", sid)


def close_local_sockets() -> int:
    """Close every socket of this process (not through the queue); how many."""
    sids = list(socketio.server.eio.sockets)
    for sid in sids:
        try:
            socketio.server.eio.disconnect(sid)
        except Exception:  # noqa: BLE001 - one that is already closing is fine
            log.exception("could not close %s", sid)
    return len(sids)


def on_one_loop() -> bool:
    """True when every connection shares one event loop (gevent)."""
    return socketio.async_mode == "gevent"


def let_others_run() -> None:
    """Yield to other connections (under gevent a long job would starve them)."""
    # Under threading the OS switches threads anyway; a sleep(0) there is a
    # system call per room for nothing.
    if on_one_loop():
        socketio.sleep(0)


# A scheduler pass pushes many rooms' states at once. Through the message
# queue, a web process delivers them as fast as they come: one burst, during
# which its sockets' signals wait. Spaced out, the deliveries interleave with
# the relays (realistic profile, 2,000 sessions on two web processes and a
# scheduler behind nginx, 2-core box: relay p99 107–196 → 48.5 ms; see
# docs/performance.md). A pass of many rooms is spread over at most this long.
PUSH_GAP_SECONDS = 0.002
PUSH_SPREAD_SECONDS = 0.5


def between_pushes(count: int) -> None:
    """Pause between the pushes of `count` rooms sent at once: a short gap
    when they go through a message queue, else a yield under gevent."""
    manager = socketio.server.manager if socketio.server is not None else None
    if isinstance(manager, RedisManager) and count > 1:
        socketio.sleep(min(PUSH_GAP_SECONDS, PUSH_SPREAD_SECONDS / count))
    else:
        let_others_run()
