"""Moving a room: settle the clock, decide, compare-and-set, commit, push."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import update

from ...domain import room as rules
from ...extensions import db
from ...models import TeachSession
from ..errors import ServiceError, WrongPhase
from .clock import save_room, settle
from .inputs import load_session
from .signal_store import flush
from .snapshots import publish

CAS_RETRIES = 3

Decision = Callable[[TeachSession, rules.Room], tuple[rules.Room, list[rules.Step]]]


class Moved(NamedTuple):
    """A transition's outcome: the session, and the snapshot pushed (if any)."""

    session: TeachSession
    state: dict[str, Any] | None


def transition(
    user_id: int,
    session_id: Any,
    now: datetime,
    decide: Decision,
    before_commit: Callable[[TeachSession], None] | None = None,
) -> Moved:
    """Apply decide() with compare-and-set, retrying if a racing change won.

    decide() sees the room with every passed deadline applied first (the server
    owns the clock) and returns the next state, or raises RoomError / a
    ServiceError to refuse; the passed deadlines are stored either way.
    """
    # A turn that ends counts its jargon signals: the queued ones go in first.
    flush()
    for _ in range(CAS_RETRIES):
        session = load_session(user_id, session_id)
        current, steps = settle(session, now)
        try:
            new, more = decide(session, current)
        except (rules.RoomError, ServiceError) as exc:
            if steps and save_room(session, current, steps):
                db.session.commit()
                publish(session.id, now)
            else:
                db.session.rollback()
            if isinstance(exc, rules.RoomError):
                raise WrongPhase(exc.message) from exc
            raise
        all_steps = steps + more
        if not all_steps:
            db.session.rollback()
            return Moved(session, None)
        if save_room(session, new, all_steps):
            if before_commit is not None:
                before_commit(session)
            room = session.id  # read before the commit expires the session
            db.session.commit()
            # The caller's ack can carry this snapshot instead of building it
            # again. The session stays expired: a caller that reads it loads
            # it then, and one that does not costs no query.
            return Moved(session, publish(room, now))
        db.session.rollback()
        db.session.expire_all()
    raise WrongPhase("The room changed at the same moment; try again.")


def settled(user_id: int, session_id: Any, now: datetime) -> TeachSession:
    """The user's session with the deadlines that passed by now applied."""
    session = load_session(user_id, session_id)
    if not settle(session, now)[1]:
        # The usual case, and the hot path of signals and sketches: flushing
        # the signal queue here on every message defeated its group commit.
        return session
    # A turn that ends counts its jargon signals: the queued ones go in first,
    # with no transaction of ours open, so SQLite's writer is free.
    db.session.rollback()
    flush()
    return catch_up(load_session(user_id, session_id), now)


def catch_up(session: TeachSession, now: datetime) -> TeachSession:
    """Apply deadlines that passed (normally the job does it within a second)."""
    current, steps = settle(session, now)
    if not steps:
        return session  # the usual case: nothing fell due, nothing to reload
    room = session.id
    if save_room(session, current, steps):
        db.session.commit()
        publish(room, now)
    else:
        db.session.rollback()
    return session  # expired by the commit or rollback: read fresh when used


def bump_version(session_id: int) -> None:
    """Every pushed state gets a new version, so clients can order them."""
    db.session.execute(
        update(TeachSession)
        .where(TeachSession.id == session_id)
        .values(version=TeachSession.version + 1)
        .execution_options(synchronize_session=False)
    )
