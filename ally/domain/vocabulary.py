"""The room's words, each written once: statuses, phases, roles, signal and call kinds.

Python code imports these; templates and `room.js` receive them from the
server (`vocabulary()` in the page), so no client spells a rule of its own.
Values are plain strings (StrEnum) and are stored as such.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A teach session's status."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    LIVE = "live"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Phase(StrEnum):
    """Where the room is inside a session."""

    WAITING = "waiting"
    TEACHING = "teaching"
    RATING = "rating"
    DONE = "done"


class Role(StrEnum):
    """A user's part in one turn."""

    TEACHER = "teacher"
    LISTENER = "listener"
    OUTSIDER = "outsider"


class SignalKind(StrEnum):
    """A listener's live reaction while the teacher explains."""

    JARGON = "jargon"
    LOST = "lost"
    SLOWER = "slower"
    CLEAR = "clear"


class CallKind(StrEnum):
    """What a `call` event carries between the partners' browsers (§10)."""

    OFFER = "offer"
    ANSWER = "answer"
    CANDIDATE = "candidate"
    HANGUP = "hangup"
    MEDIA = "media"


STATUSES = tuple(s.value for s in Status)
OVER = frozenset({Status.COMPLETED.value, Status.MISSED.value, Status.CANCELLED.value})
PHASES = tuple(p.value for p in Phase)
SIGNAL_KINDS = tuple(k.value for k in SignalKind)
CALL_KINDS = tuple(k.value for k in CallKind)


def vocabulary() -> dict[str, dict[str, str]]:
    """Every word, by enum, for pages and scripts (e.g. `phase.RATING`)."""
    return {
        "status": {s.name: s.value for s in Status},
        "phase": {p.name: p.value for p in Phase},
        "role": {r.name: r.value for r in Role},
        "signal_kind": {k.name: k.value for k in SignalKind},
        "call_kind": {k.name: k.value for k in CallKind},
    }
