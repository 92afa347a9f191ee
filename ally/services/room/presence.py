"""Who is connected and who is in which room, shared through the database.

Each accepted socket gets a row (sid, user, the server instance holding it, the
user's auth_version at connect time, the session whose room it joined). Every
web process sees the same rows, so presence and logouts work across processes.
A server that dies leaves its rows behind: `instances` declares it dead once
its heartbeat stops, and its rows are forgotten and their rooms told.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, select, update

from ...extensions import db
from ...models import LiveSocket, User
from ...push import disconnect_socket
from ..errors import Forbidden
from .kept_facts import kept_facts

LOGIN_ENDED = "This connection's login has ended; log in again."


def register_socket(
    sid: str,
    user_id: int,
    auth_version: int,
    instance: str,
    now: datetime,
    *,
    login_id: int | None = None,
    api_token_id: int | None = None,
) -> None:
    """Record a newly accepted socket (and the login or API token behind it)."""
    db.session.merge(
        LiveSocket(
            sid=sid,
            user_id=user_id,
            instance=instance,
            auth_version=auth_version,
            session_id=None,
            connected_at=now,
            login_id=login_id,
            api_token_id=api_token_id,
        )
    )
    db.session.commit()


def _forget(condition) -> list[tuple[int, int | None]]:
    """Delete the matching sockets in one DELETE … RETURNING; (user, session)
    of each. A server whose clients all drop at once runs this thousands of
    times in a row, and exactly one process gets each row back."""
    table = LiveSocket.__table__
    rows = db.session.execute(
        delete(table).where(condition).returning(table.c.user_id, table.c.session_id)
    ).all()
    db.session.commit()
    return [(row.user_id, row.session_id) for row in rows]


def forget_socket(sid: str) -> tuple[int, int | None] | None:
    """Drop a closed socket; its user and the session whose room it was in."""
    kept_facts().forget_socket(sid)
    rows = _forget(LiveSocket.__table__.c.sid == sid)
    return rows[0] if rows else None


# Built once: every room event runs some of these, and building a statement
# (columns, cache key) cost more than running it.
_SOCKET_USER = (
    select(LiveSocket.user_id, LiveSocket.auth_version, User.auth_version)
    .join(User, User.id == LiveSocket.user_id)
    .where(LiveSocket.sid == bindparam("sid"))
)
_SOCKET_SESSION = select(LiveSocket.session_id).where(
    LiveSocket.sid == bindparam("sid")
)
# On the table, not the entity: no ORM bulk-update bookkeeping for one row.
_SET_SESSION = (
    update(LiveSocket.__table__)
    .where(LiveSocket.__table__.c.sid == bindparam("socket"))
    .values(session_id=bindparam("room"))
)
_ONLINE = select(LiveSocket.session_id, LiveSocket.user_id).where(
    LiveSocket.session_id.in_(bindparam("ids", expanding=True))
)


def socket_user(sid: str) -> int:
    """The user of a socket whose login is still valid, else Forbidden.

    A password change or "log out everywhere" bumps the user's auth_version:
    events from sockets opened before it are refused.
    """
    row = db.session.execute(_SOCKET_USER, {"sid": sid}).first()
    if row is None or row[1] != row[2]:
        raise Forbidden(LOGIN_ENDED)
    return row[0]


def socket_session(sid: str) -> int | None:
    """The session whose room a socket is in, if any."""
    return db.session.scalar(_SOCKET_SESSION, {"sid": sid})


def set_socket_session(sid: str, session_id: int | None) -> None:
    """Record which session's room a socket is in (None: none)."""
    db.session.execute(_SET_SESSION, {"socket": sid, "room": session_id})


def online_user_ids(session_id: int) -> set[int]:
    """Users with at least one socket in the session's room."""
    return online_by_session([session_id]).get(session_id, set())


def online_by_session(session_ids: list[int]) -> dict[int, set[int]]:
    """For each session, the users with a socket in its room."""
    found: dict[int, set[int]] = {}
    for session_id, user_id in db.session.execute(_ONLINE, {"ids": list(session_ids)}):
        found.setdefault(session_id, set()).add(user_id)
    return found


def disconnect_user(user_id: int) -> int:
    """Close every socket of a user (logout, password change); returns how many."""
    sids = list(
        db.session.scalars(select(LiveSocket.sid).where(LiveSocket.user_id == user_id))
    )
    # The disconnect handler (on whichever process holds the socket) removes
    # each row and tells the room the user left.
    for sid in sids:
        disconnect_socket(sid)
    return len(sids)


def forget_instance(instance: str) -> list[tuple[int, int | None]]:
    """Drop every socket a server instance held; their users and rooms."""
    return _forget(LiveSocket.__table__.c.instance == instance)
