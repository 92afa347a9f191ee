"""The room's words, each written once: statuses, phases, roles, signal and call kinds.

Python code imports these; templates and `room.js` receive them from the
server (`vocabulary()` in the page), so no client spells a rule of its own.
Values are plain strings (StrEnum) and are stored as such.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


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
    # Elaborative interrogation (§11): explain a cause, or a mechanism.
    WHY = "why"
    HOW = "how"


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
QUESTION_KINDS = frozenset({SignalKind.WHY.value, SignalKind.HOW.value})
# The sketch pad's colours; white is the eraser.
SKETCH_COLORS = ("#1f2937", "#b3261e", "#0b5394", "#1b6e3a", "#b26a00", "#ffffff")
ERASER = "#ffffff"


def vocabulary() -> dict[str, Any]:
    """Every word, by enum, for pages and scripts (e.g. `phase.RATING`)."""
    return {
        "status": {s.name: s.value for s in Status},
        "phase": {p.name: p.value for p in Phase},
        "role": {r.name: r.value for r in Role},
        "signal_kind": {k.name: k.value for k in SignalKind},
        "call_kind": {k.name: k.value for k in CallKind},
        "question_kinds": sorted(QUESTION_KINDS),
        "sketch_colors": list(SKETCH_COLORS),
        "eraser": ERASER,
    }
