"""Which user each socket of this process belongs to, fixed when it connected."""

from __future__ import annotations

import threading

_lock = threading.Lock()
# sid -> (user id, the user's auth_version when the socket connected)
_sockets: dict[str, tuple[int, int]] = {}


def remember_socket(sid: str, user_id: int, auth_version: int) -> None:
    """Record the user of a newly accepted socket."""
    with _lock:
        _sockets[sid] = (user_id, auth_version)


def forget_socket(sid: str) -> None:
    """Drop a closed socket."""
    with _lock:
        _sockets.pop(sid, None)


def socket_identity(sid: str) -> tuple[int, int] | None:
    """(user id, auth version at connect) of a socket, or None if unknown."""
    with _lock:
        return _sockets.get(sid)
