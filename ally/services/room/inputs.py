"""What a room event carries, checked: ids, text, ratings, turn numbers.

Every room use case loads its session through here, so someone else's session
and an unknown one get the same `NotFound`, and every text is checked by the
one rule for storable text (`domain.text`) before anything is queued or written.
"""

from __future__ import annotations

from typing import Any

from ...domain import room as rules
from ...domain.recheck import simplicity_problem
from ...extensions import db
from ...models import TeachSession
from ..errors import Invalid, NotFound
from ..storable import require_storable

MAX_TOPIC, MAX_WORD, MAX_NOTE, MAX_SUMMARY = 120, 40, 1000, 600
MAX_QUESTION = 200  # a listener's why/how question
MAX_JARGON_WORDS = 20
MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER


def is_plausible_id(value: Any) -> bool:
    """An integer some session row could have."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
    )


def check_session_id(session_id: Any) -> None:
    """Invalid unless an integer; NotFound when no row can have it."""
    if isinstance(session_id, bool) or not isinstance(session_id, int):
        raise Invalid("session_id must be an integer.", field="session_id")
    if not 0 < session_id <= MAX_ID:
        raise NotFound("No such session.")  # no row can have it


def load_session(user_id: int, session_id: Any) -> TeachSession:
    """A session the user takes part in, or NotFound (never says which)."""
    check_session_id(session_id)
    session = db.session.get(TeachSession, session_id)
    if session is None or user_id not in session.member_ids():
        raise NotFound("No such session.")
    return session


def text(value: Any, field: str, limit: int, *, required: bool) -> str | None:
    """A trimmed, whitespace-folded, storable string within limit (None when
    optional and empty)."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text.", field=field)
    clean = " ".join(value.split())
    if not clean:
        if required:
            raise Invalid(f"{field} must not be empty.", field=field)
        return None
    if len(clean) > limit:
        raise Invalid(f"{field} is limited to {limit} characters.", field=field)
    return require_storable(clean, field, field)


def simplicity(value: Any, field: str = "simplicity") -> int:
    """An integer of the 1-5 scale (booleans, floats and strings are refused)."""
    if simplicity_problem(value) is not None:
        raise Invalid(f"{field} must be a whole number from 1 to 5.", field=field)
    return value


def turn_index(session: TeachSession, value: Any) -> int:
    """A turn number of this session."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("turn must be an integer.", field="turn")
    if not 0 <= value < session.turns:
        raise Invalid(f"turn must be 0 to {session.turns - 1}.", field="turn")
    return value


def jargon_words(value: Any) -> list[str]:
    """A rating's jargon list: distinct storable words, at most 20."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid("jargon must be a list of words.", field="jargon")
    if len(value) > MAX_JARGON_WORDS:
        raise Invalid(f"jargon is limited to {MAX_JARGON_WORDS} words.", field="jargon")
    words: list[str] = []
    for item in value:
        word = text(item, "jargon", MAX_WORD, required=True)
        if word not in words:
            words.append(word)
    return words


def role(session: TeachSession, turn: int, user_id: int) -> str:
    """The user's role in that turn of the session."""
    return rules.role_of(
        turn, session.first_teacher_id, session.second_teacher_id, user_id
    )
