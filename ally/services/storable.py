"""Text from outside that no database could store is refused, naming the field."""

from __future__ import annotations

from ..domain.text import unstorable_reason
from .errors import Invalid


def require_storable(value: str, field: str, label: str | None = None) -> str:
    """The text itself, or Invalid naming the field when a backend could not
    store it (a lone surrogate half, a NUL): refused before anything is written."""
    reason = unstorable_reason(value)
    if reason is not None:
        name = label or field.replace("_", " ").capitalize()
        raise Invalid(f"{name} {reason}", field=field)
    return value
