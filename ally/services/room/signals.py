"""The listener's `signal`: one use case, with a fast read and a batch sink.

Checked (the socket's login, the session, the phase, the role, the text, the
rate), relayed to the room at once, and acknowledged once its row is committed
(`store`, group commit). When a deadline has already passed (the
clock job has not moved the room yet) or the turn row is missing, the same use
case takes the ORM route: it applies the clock first and stores the signal in
its own transaction.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from ...domain import room as rules
from ...domain.vocabulary import QUESTION_KINDS, SIGNAL_KINDS, Phase, Role, Status
from ...extensions import db
from ...models import Signal
from ...push import emit_to_session
from ..errors import Forbidden, Invalid, NotFound, NotStored, RateLimited, WrongPhase
from ..rate_buckets import buckets
from .inputs import (
    MAX_QUESTION,
    MAX_WORD,
    check_session_id,
    is_plausible_id,
    role,
    text,
)
from .kept_facts import kept_facts
from .presence import LOGIN_ENDED
from .signal_store import Facts, read_facts, store
from .transition import settled
from .turns import ensure_turn

# Listener signals: about 5 a second per user, a short burst allowed.
SIGNAL_RATE, SIGNAL_BURST = 5.0, 8.0

_buckets = buckets("signal", SIGNAL_RATE, SIGNAL_BURST)


def check_signal(
    user_id: int,
    kind: Any,
    word: Any,
    question: Any,
    *,
    status: str,
    phase: str,
    role: str,
) -> tuple[str | None, str | None]:
    """Refuse a signal that may not be sent now; returns the cleaned word and
    question.

    The last check takes one of the user's tokens (about 5 signals a second).
    """
    if kind not in SIGNAL_KINDS:
        raise Invalid(f"kind must be one of {', '.join(SIGNAL_KINDS)}.", field="kind")
    clean_word = text(word, "word", MAX_WORD, required=False)
    clean_question = text(question, "question", MAX_QUESTION, required=False)
    if clean_question is not None and kind not in QUESTION_KINDS:
        raise Invalid("A question goes with why or how.", field="question")
    if status != Status.LIVE or phase != Phase.TEACHING:
        raise WrongPhase("Signals are sent while a turn is being taught.")
    if role != Role.LISTENER:
        raise Forbidden("Only the listener sends signals.")
    if not _buckets.allow(user_id, time.monotonic()):
        raise RateLimited("Too many signals at once; one is enough.")
    return clean_word, clean_question


def signal_record(
    session_id: int,
    turn: int,
    turn_id: int,
    turn_started: datetime,
    user_id: int,
    kind: str,
    word: str | None,
    question: str | None,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An accepted signal's row values and the payload relayed to the room."""
    offset_ms = max(0, int((now - turn_started).total_seconds() * 1000))
    values = {
        "session_id": session_id,
        "turn_id": turn_id,
        "user_id": user_id,
        "kind": kind,
        "word": word,
        "question": question,
        "at": now,
        "offset_ms": offset_ms,
    }
    payload = {
        "session_id": session_id,
        "turn": turn,
        "kind": kind,
        "word": word,
        "at": now.isoformat(),
        "offset_ms": offset_ms,
    }
    if question is not None:
        payload["question"] = question
    return values, payload


def send(
    sid: str, session_id: Any, kind: Any, word: Any, now: datetime, question: Any = None
) -> dict[str, Any]:
    """The listener's signal from socket `sid`: checked, relayed, committed."""
    # The same order of refusals as every other event: the login, then the id.
    usable_id = session_id if is_plausible_id(session_id) else 0
    kept = kept_facts()
    change = kept.changes  # before the read: see KeptFacts.keep
    cached = kept.get(sid, usable_id)
    facts = cached or read_facts(sid, usable_id)
    if facts is None or facts.socket_auth_version != facts.user_auth_version:
        raise Forbidden(LOGIN_ENDED)
    check_session_id(session_id)
    accepted = _accept(facts, session_id, kind, word, question, now)
    if accepted is None:
        return signal(facts.user_id, session_id, kind, word, now, question)
    if cached is None:
        kept.keep(sid, session_id, facts, change)  # they let a signal through
    values, payload = accepted
    # The teacher sees it at once; the listener's ack waits for the commit.
    emit_to_session(session_id, "signal", payload, here_only=not facts.room_elsewhere)
    try:
        store(values)
    except NotStored:
        kept.forget_socket(sid)  # what it was checked against may be gone
        raise
    return payload


def _accept(
    facts: Facts, session_id: int, kind: Any, word: Any, question: Any, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The row's values and the relayed payload, a refusal, or None (ORM route)."""
    members = (facts.first_teacher_id, facts.second_teacher_id)
    if facts.session_id is None or facts.user_id not in members:
        raise NotFound("No such session.")
    due = facts.phase_ends_at is not None and facts.phase_ends_at <= now
    if due or facts.turn_id is None or facts.turn_started_at is None:
        return None
    clean_word, clean_question = check_signal(
        facts.user_id,
        kind,
        word,
        question,
        status=facts.status,
        phase=facts.phase,
        role=rules.role_of(
            facts.current_turn,
            facts.first_teacher_id,
            facts.second_teacher_id,
            facts.user_id,
        ),
    )
    return signal_record(
        session_id,
        facts.current_turn,
        facts.turn_id,
        facts.turn_started_at,
        facts.user_id,
        kind,
        clean_word,
        clean_question,
        now,
    )


def signal(
    user_id: int,
    session_id: Any,
    kind: Any,
    word: Any,
    now: datetime,
    question: Any = None,
) -> dict[str, Any]:
    """The ORM route of a signal: the clock applied first, stored, relayed."""
    session = settled(user_id, session_id, now)
    clean_word, clean_question = check_signal(
        user_id,
        kind,
        word,
        question,
        status=session.status,
        phase=session.phase,
        role=role(session, session.current_turn, user_id),
    )
    turn = ensure_turn(session, session.current_turn)
    # Built before the commit, which would expire (and reload) the session.
    values, payload = signal_record(
        session.id,
        session.current_turn,
        turn.id,
        turn.started_at or now,
        user_id,
        kind,
        clean_word,
        clean_question,
        now,
    )
    db.session.add(Signal(**values))
    db.session.commit()
    emit_to_session(payload["session_id"], "signal", payload)
    return payload
