"""Profiles: what a student studies and when they can meet."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from ..domain.availability import (
    AvailabilityError,
    Window,
    format_hhmm,
    make_window,
    normalize_windows,
)
from ..extensions import db
from ..models import Profile
from .accounts import clean_display_name, clean_timezone, get_user
from .errors import Invalid
from .storable import require_storable

MAX_WINDOWS = 6
MAX_EXAM = 80
MAX_SUBJECTS = 12
MAX_SUBJECT = 40
MAX_BIO = 1000
MAX_TERMS = 200
MAX_TERM = 40
EARLIEST_EXAM_DATE = date(2000, 1, 1)
LATEST_EXAM_DATE = date(2100, 12, 31)
PROFILE_FIELDS = frozenset(
    {
        "display_name",
        "timezone",
        "exam",
        "exam_date",
        "subjects",
        "bio",
        "availability",
        "looking_for_partner",
        "auto_match",
        "allowed_terms",
    }
)


def window_to_json(window: Window) -> dict[str, Any]:
    """The stored and API form of a window."""
    weekdays = sorted(window.weekdays) if window.weekdays is not None else None
    return {
        "start": format_hhmm(window.start),
        "end": format_hhmm(window.end),
        "weekdays": weekdays,
    }


def windows_from_json(items: Iterable[Mapping[str, Any]]) -> tuple[Window, ...]:
    """Windows from their stored form (already validated when stored)."""
    return tuple(
        make_window(item["start"], item["end"], item.get("weekdays")) for item in items
    )


@lru_cache(maxsize=65536)
def windows_from_text(text: str | None) -> tuple[Window, ...]:
    """Windows from the raw JSON text of a profile column (cached: hot in matching)."""
    if not text:
        return ()
    return windows_from_json(json.loads(text))


def clean_availability(items: Any) -> list[dict[str, Any]]:
    """Validate, merge and sort availability windows given as dicts."""
    if not isinstance(items, list | tuple):
        raise Invalid("Availability must be a list of windows.", field="availability")
    if len(items) > MAX_WINDOWS:
        raise Invalid(
            f"Give at most {MAX_WINDOWS} availability windows.", field="availability"
        )
    try:
        windows = []
        for item in items:
            if not isinstance(item, Mapping):
                raise AvailabilityError("Each window needs a start and an end.")
            windows.append(
                make_window(
                    str(item.get("start", "")),
                    str(item.get("end", "")),
                    item.get("weekdays"),
                )
            )
        merged = normalize_windows(windows, max_windows=MAX_WINDOWS)
    except AvailabilityError as exc:
        raise Invalid(str(exc), field="availability") from exc
    return [window_to_json(w) for w in merged]


def clean_subjects(items: Any) -> list[str]:
    """Distinct subject names, each 1 to 40 characters, at most 12."""
    if isinstance(items, str):
        items = items.split(",")
    if not isinstance(items, list | tuple):
        raise Invalid("Subjects must be a list of names.", field="subjects")
    seen: dict[str, str] = {}
    for raw in items:
        if not isinstance(raw, str):
            raise Invalid("Each subject must be text.", field="subjects")
        name = " ".join(require_storable(raw, "subjects", "A subject").split())
        if not name:
            continue
        if len(name) > MAX_SUBJECT:
            raise Invalid(
                f"Use at most {MAX_SUBJECT} characters per subject.", field="subjects"
            )
        seen.setdefault(name.casefold(), name)
    if len(seen) > MAX_SUBJECTS:
        raise Invalid(f"List at most {MAX_SUBJECTS} subjects.", field="subjects")
    return list(seen.values())


def _clean_optional_text(value: Any, limit: int, field: str, label: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{label} must be text.", field=field)
    require_storable(value, field, label)
    text = " ".join(value.split()) if field != "bio" else value.strip()
    if len(text) > limit:
        raise Invalid(
            f"Use at most {limit} characters for {label.lower()}.", field=field
        )
    return text or None


def _clean_exam_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError as exc:
            raise Invalid("Exam date must be YYYY-MM-DD.", field="exam_date") from exc
    if not isinstance(value, date):
        raise Invalid("Exam date must be YYYY-MM-DD.", field="exam_date")
    if not EARLIEST_EXAM_DATE <= value <= LATEST_EXAM_DATE:
        raise Invalid("Exam date is out of range.", field="exam_date")
    return value


def clean_terms(raw: Any) -> list[str]:
    """The allow-list: terms from a list or a comma/newline separated text."""
    if isinstance(raw, str):
        raw = [part for chunk in raw.split("\n") for part in chunk.split(",")]
    if not isinstance(raw, list):
        raise Invalid("Give the terms as a list.", field="allowed_terms")
    terms: list[str] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, str):
            raise Invalid("Each term must be text.", field="allowed_terms")
        term = " ".join(require_storable(item, "allowed_terms", "A term").split())
        if not term:
            continue
        if len(term) > MAX_TERM:
            raise Invalid(
                f"Terms are limited to {MAX_TERM} characters: {term[:MAX_TERM]}…",
                field="allowed_terms",
            )
        if term.casefold() not in seen:
            seen.add(term.casefold())
            terms.append(term)
    if len(terms) > MAX_TERMS:
        raise Invalid(f"At most {MAX_TERMS} terms.", field="allowed_terms")
    return terms


def _clean_flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{field} must be true or false.", field=field)
    return value


def clean_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a partial profile update; raises Invalid on the first problem."""
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise Invalid(f"Unknown field: {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    cleaners = {
        "display_name": clean_display_name,
        "timezone": clean_timezone,
        "exam": lambda v: _clean_optional_text(v, MAX_EXAM, "exam", "Exam"),
        "exam_date": _clean_exam_date,
        "subjects": clean_subjects,
        "bio": lambda v: _clean_optional_text(v, MAX_BIO, "bio", "Bio") or "",
        "availability": clean_availability,
        "looking_for_partner": lambda v: _clean_flag(v, "looking_for_partner"),
        "auto_match": lambda v: _clean_flag(v, "auto_match"),
        "allowed_terms": clean_terms,
    }
    return {name: cleaners[name](value) for name, value in changes.items()}


def get_profile(user_id: int) -> Profile:
    """The user's profile (every user has one)."""
    return get_user(user_id).profile


def update_profile(user_id: int, changes: Mapping[str, Any]) -> Profile:
    """Apply a validated partial update to the user and their profile."""
    clean = clean_changes(changes)
    user = get_user(user_id)
    for name, value in clean.items():
        target = user if name in {"display_name", "timezone"} else user.profile
        setattr(target, name, value)
    db.session.commit()
    return user.profile
