"""The `call` event: one participant's signalling message, relayed to the other."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from ...domain.call import CALL_BURST, CALL_RATE, BadCall, call_open, clean_call
from ...models import TeachSession
from ...push import emit_to_member
from ..errors import Invalid, RateLimited, WrongPhase
from ..matching_data import OPEN_PARTNERSHIP
from ..rate_buckets import buckets
from ..room import is_plausible_id, load_session

_buckets = buckets("call", CALL_RATE, CALL_BURST)

# What a call message needs to know about its session, kept a second per
# (user, session): a call's start is a burst of some 25 messages (offer,
# answer, candidates) and each one loading the session and its partnership
# saturated a process while 2,000 rooms opened (docs/performance.md). The
# members never change; a session ending or a block is seen within FACTS_TTL.
FACTS_TTL = 1.0
_MAX_FACTS = 10_000


@dataclass(frozen=True)
class _CallFacts:
    session_id: int
    members: tuple[int, ...]
    open_error: str | None  # why the call is closed now, or None
    until: float  # monotonic time after which to read again


_facts: dict[tuple[int, int], _CallFacts] = {}
_clock = time.monotonic  # the facts' clock (tests move it)
_facts_lock = threading.Lock()


def forget_facts() -> None:
    """Drop every kept fact (the next message of each call reads again)."""
    with _facts_lock:
        _facts.clear()


def _call_facts(user_id: int, session_id: Any, now: datetime) -> _CallFacts:
    """The session's members and whether the call is open (kept FACTS_TTL)."""
    key = (user_id, session_id) if is_plausible_id(session_id) else None
    clock = _clock()
    if key is not None:
        with _facts_lock:
            kept = _facts.get(key)
        if kept is not None and kept.until > clock:
            return kept
    session = load_session(user_id, session_id)  # NotFound for anyone else
    try:
        require_call_open(session, now)
        error = None
    except WrongPhase as closed:
        error = closed.message
    facts = _CallFacts(session.id, session.member_ids(), error, clock + FACTS_TTL)
    with _facts_lock:
        if len(_facts) >= _MAX_FACTS:
            _facts.clear()
        _facts[(user_id, session.id)] = facts
    return facts


def relay(user_id: int, session_id: Any, kind: Any, data: Any, now: datetime) -> None:
    """Check a `call` message and pass it to the partner's sockets in the room.

    Nothing is stored: an offer, answer or candidate only matters to the two
    browsers now. Refusals in the room's order: not a member, a bad payload,
    outside the call's window, too many at once.
    """
    facts = _call_facts(user_id, session_id, now)
    try:
        clean = clean_call(kind, data)
    except BadCall as error:
        raise Invalid(str(error), field="data") from None
    if facts.open_error is not None:
        raise WrongPhase(facts.open_error)
    if not _buckets.allow(user_id, time.monotonic()):
        raise RateLimited("Too many call messages at once.")
    for partner in facts.members:
        if partner != user_id:
            emit_to_member(
                facts.session_id,
                partner,
                "call",
                {
                    "session_id": facts.session_id,
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
