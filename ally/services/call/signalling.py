"""The `call` event: one participant's signalling message, relayed to the other."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from ...domain.call import CALL_BURST, CALL_RATE, BadCall, call_open, clean_call
from ...domain.rate_limit import Buckets
from ...models import TeachSession
from ...push import emit_to_member
from ..errors import Invalid, RateLimited, WrongPhase
from ..matching_data import OPEN_PARTNERSHIP
from ..room import load_session

_buckets = Buckets(CALL_RATE, CALL_BURST)


def relay(user_id: int, session_id: Any, kind: Any, data: Any, now: datetime) -> None:
    """Check a `call` message and pass it to the partner's sockets in the room.

    Nothing is stored: an offer, answer or candidate only matters to the two
    browsers now. Refusals in the room's order: not a member, a bad payload,
    outside the call's window, too many at once.
    """
    session = load_session(user_id, session_id)
    try:
        clean = clean_call(kind, data)
    except BadCall as error:
        raise Invalid(str(error), field="data") from None
    require_call_open(session, now)
    if not _buckets.allow(user_id, time.monotonic()):
        raise RateLimited("Too many call messages at once.")
    for partner in session.member_ids():
        if partner != user_id:
            emit_to_member(
                session.id,
                partner,
                "call",
                {
                    "session_id": session.id,
                    "from_user_id": user_id,
                    "kind": kind,
                    "data": clean,
                },
            )


def require_call_open(session: TeachSession, now: datetime) -> None:
    """WrongPhase unless the two may talk now: their partnership goes on (a
    block or an ending closes the call at once) and the session's window is
    open."""
    if session.partnership.status not in OPEN_PARTNERSHIP:
        raise WrongPhase("This partnership has ended; the call is closed.")
    opens_before = timedelta(minutes=int(current_app.config["ALLY_ROOM_OPENS_MINUTES"]))
    if not call_open(
        session.status,
        session.starts_at,
        session.ended_at,
        session.ends_at,
        now,
        opens_before,
    ):
        raise WrongPhase(
            "The call is open from the room's opening until 15 minutes "
            "after the session."
        )
