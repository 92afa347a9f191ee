"""Text every database backend can store: the one rule for text from outside.

A Python string may hold what no backend accepts: a lone surrogate half
(U+D800-U+DFFF, which JSON's "\\ud800" escape produces) cannot be encoded to
UTF-8 for SQLite or PostgreSQL, and PostgreSQL refuses the NUL character in
text. Every entry point (forms, API schemas, services, the live room) asks
`unstorable_reason` before anything is written, so such a value is refused
with a clear message instead of failing in the driver.
"""

from __future__ import annotations

import re

# One pass in C over the string; the hot path (room signals) calls this often.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

LONE_SURROGATE = "contains a character that cannot be stored (a lone surrogate half)."
NUL = "contains a NUL character, which cannot be stored."


def unstorable_reason(value: str) -> str | None:
    """None when every backend can store the string, else why not (a phrase to
    follow the field's name, e.g. "title contains a NUL character, ...")."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    return NUL if found.group() == "\x00" else LONE_SURROGATE


def is_storable(value: str) -> bool:
    """True when every backend can store the string."""
    return _UNSTORABLE.search(value) is None


# Characters that reorder the text around them (embeddings, overrides,
# isolates, marks): in a name they can make "Ann" display as someone else's
# name or reverse the words next to it on a page.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
BIDI_CONTROL = (
    "contains a character that changes the direction of text "
    "(such as U+202E); remove it."
)


def bidi_control_reason(value: str) -> str | None:
    """None when the string holds no bidirectional control character, else why
    (a phrase to follow the field's name)."""
    return BIDI_CONTROL if _BIDI_CONTROLS.search(value) else None
