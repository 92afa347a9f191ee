"""Partnerships: read, change the schedule (by agreement), pause, end."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from ..domain.availability import AvailabilityError, format_hhmm, parse_hhmm
from ..domain.timezones import local_date, localize
from ..extensions import db
from ..models import Partnership, User, utcnow
from . import notifications, schedule
from .accounts import clean_timezone
from .errors import Conflict, Invalid, NotFound
from .storable import require_storable

SCHEDULE_FIELDS = ("daily_time", "timezone", "session_minutes", "turns", "weekdays")
IMMEDIATE_FIELDS = ("meeting_url", "status")
ALLOWED_TURNS = (2, 4, 6)
MIN_SESSION_MINUTES, MAX_SESSION_MINUTES = 30, 90
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekdays_to_list(mask: int) -> list[int]:
    """Weekday numbers (0 = Monday) from a bit mask."""
    return [d for d in range(7) if mask & (1 << d)]


def weekdays_to_mask(days: list[int]) -> int:
    """A bit mask from weekday numbers."""
    return sum(1 << d for d in set(days))


def list_partnerships(user_id: int, include_ended: bool = True) -> list[Partnership]:
    """The user's partnerships, newest first."""
    query = (
        select(Partnership)
        .where(or_(Partnership.user_a_id == user_id, Partnership.user_b_id == user_id))
        .order_by(Partnership.id.desc())
    )
    if not include_ended:
        query = query.where(Partnership.status != "ended")
    return list(db.session.scalars(query))


def current_partnership(user_id: int) -> Partnership | None:
    """The user's newest active or paused partnership."""
    return next(iter(list_partnerships(user_id, include_ended=False)), None)


def get_partnership(user_id: int, partnership_id: int) -> Partnership:
    """One of the user's partnerships, or NotFound."""
    partnership = db.session.get(Partnership, partnership_id)
    if partnership is None or user_id not in partnership.member_ids():
        raise NotFound("No such partnership.")
    return partnership


def schedule_of(partnership: Partnership) -> dict[str, Any]:
    """The schedule fields as the API shows them."""
    return {
        "daily_time": format_hhmm(partnership.daily_minute),
        "timezone": partnership.timezone,
        "session_minutes": partnership.session_minutes,
        "turns": partnership.turns,
        "weekdays": weekdays_to_list(partnership.weekdays),
    }


def daily_time_in(partnership: Partnership, tz: str, now: datetime) -> str:
    """Today's start as wall time "HH:MM" in another zone."""
    day = local_date(now, partnership.timezone)
    instant = localize(day, partnership.daily_minute, partnership.timezone)
    return instant.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def _clean_schedule(values: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if "daily_time" in values:
        raw = values["daily_time"]
        try:
            clean["daily_time"] = format_hhmm(parse_hhmm(str(raw)))
        except AvailabilityError as exc:
            raise Invalid(str(exc), field="daily_time") from exc
    if "timezone" in values:
        clean["timezone"] = clean_timezone(values["timezone"])
    if "session_minutes" in values:
        minutes = values["session_minutes"]
        if (
            not isinstance(minutes, int)
            or isinstance(minutes, bool)
            or not MIN_SESSION_MINUTES <= minutes <= MAX_SESSION_MINUTES
        ):
            raise Invalid(
                f"Session length must be {MIN_SESSION_MINUTES} to "
                f"{MAX_SESSION_MINUTES} minutes.",
                field="session_minutes",
            )
        clean["session_minutes"] = minutes
    if "turns" in values:
        turns = values["turns"]
        if isinstance(turns, bool) or turns not in ALLOWED_TURNS:
            raise Invalid("Turns must be 2, 4 or 6.", field="turns")
        clean["turns"] = turns
    if "weekdays" in values:
        days = values["weekdays"]
        if (
            not isinstance(days, list)
            or not days
            or any(isinstance(d, bool) or d not in range(7) for d in days)
        ):
            raise Invalid(
                "Weekdays must be a non-empty list of 0 (Monday) to 6 (Sunday).",
                field="weekdays",
            )
        clean["weekdays"] = sorted(set(days))
    return clean


def _clean_immediate(values: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if "meeting_url" in values:
        url = values["meeting_url"]
        if isinstance(url, str):
            require_storable(url, "meeting_url", "Meeting link")
        if url in (None, ""):
            clean["meeting_url"] = None
        else:
            parts = urlsplit(url) if isinstance(url, str) else None
            if (
                parts is None
                or len(url) > 500
                or parts.scheme not in ("http", "https")
                or not parts.netloc
            ):
                raise Invalid(
                    "Meeting link must be an http(s) URL of at most 500 characters.",
                    field="meeting_url",
                )
            clean["meeting_url"] = url
    if "status" in values:
        if values["status"] not in ("active", "paused"):
            raise Invalid(
                "Status must be active or paused (DELETE ends a partnership).",
                field="status",
            )
        clean["status"] = values["status"]
    return clean


def _apply_schedule(partnership: Partnership, schedule: Mapping[str, Any]) -> None:
    partnership.daily_minute = parse_hhmm(schedule["daily_time"])
    partnership.timezone = schedule["timezone"]
    partnership.session_minutes = schedule["session_minutes"]
    partnership.turns = schedule["turns"]
    partnership.weekdays = weekdays_to_mask(schedule["weekdays"])
    partnership.proposal = None
    partnership.proposed_by_id = None


def _describe(values: Mapping[str, Any]) -> str:
    """A schedule in words, e.g. "19:00 Europe/London, 60 min, 4 turns"."""
    days = values["weekdays"]
    when = (
        "every day"
        if len(days) == 7
        else ", ".join(WEEKDAY_NAMES[d] for d in sorted(days))
    )
    return (
        f"{values['daily_time']} {values['timezone']}, {values['session_minutes']} "
        f"min, {values['turns']} turns, {when}"
    )


def _tell_partner(partnership: Partnership, user_id: int, kind: str, text: str) -> None:
    """Notify the other member (if they still have an account)."""
    partner = partnership.partner_of(user_id)
    if partner is not None:
        notifications.notify(
            partner.id, kind, text, f"/partnerships/{partnership.id}", now=utcnow()
        )


def update_partnership(
    user_id: int, partnership_id: int, changes: Mapping[str, Any]
) -> tuple[Partnership, bool]:
    """Change a partnership; returns (partnership, schedule_pending).

    The meeting link and pause/resume apply at once. A schedule change is a
    proposal until the other partner sends the same values; both are told.
    """
    partnership = get_partnership(user_id, partnership_id)
    unknown = set(changes) - set(SCHEDULE_FIELDS) - set(IMMEDIATE_FIELDS)
    if unknown:
        name = sorted(unknown)[0]
        raise Invalid(f"Unknown field: {name}.", field=name)
    if partnership.status == "ended":
        raise Conflict("This partnership has ended.")
    schedule_changes = _clean_schedule(changes)
    immediate = _clean_immediate(changes)
    old_status = partnership.status
    for name, value in immediate.items():
        setattr(partnership, name, value)
    pending, applied, proposed = False, False, False
    if schedule_changes:
        current = schedule_of(partnership)
        wanted = {**current, **schedule_changes}
        proposal = partnership.proposal
        by_other = proposal and partnership.proposed_by_id not in (None, user_id)
        agreed_schedule = {**current, **proposal} if by_other else None
        if (
            agreed_schedule
            and set(proposal) <= set(schedule_changes)
            and wanted == agreed_schedule
        ):
            # The other partner sent the proposed values (every one of them, and
            # nothing else changed): the change takes effect.
            _apply_schedule(partnership, agreed_schedule)
            applied = True
        elif wanted == current:
            pending = proposal is not None
        else:
            partnership.proposal = {
                k: v for k, v in wanted.items() if current.get(k) != v
            }
            partnership.proposed_by_id = user_id
            pending = proposed = True
    now = utcnow()
    if applied or partnership.status != old_status:
        # Stored sessions not yet open follow the new schedule or the pause.
        schedule.drop_future_sessions(
            partnership.id, now, cancel_open=partnership.status != "active"
        )
    db.session.commit()
    me = db.session.get(User, user_id)
    if proposed:
        _tell_partner(
            partnership,
            user_id,
            "schedule_proposed",
            f"{me.display_name} proposed a new schedule: "
            f"{_describe({**schedule_of(partnership), **partnership.proposal})}. "
            "Agree to it on the partnership page.",
        )
    if applied:
        text = f"New schedule in effect: {_describe(schedule_of(partnership))}."
        _tell_partner(partnership, user_id, "schedule_changed", text)
        notifications.notify(
            user_id,
            "schedule_changed",
            text,
            f"/partnerships/{partnership.id}",
            now=now,
        )
    if partnership.status != old_status:
        verb = "paused" if partnership.status == "paused" else "resumed"
        _tell_partner(
            partnership,
            user_id,
            f"partnership_{verb}",
            f"{me.display_name} {verb} your daily teach-back hour.",
        )
    return partnership, pending


def end_partnership(user_id: int, partnership_id: int, now: datetime) -> Partnership:
    """End a partnership for both partners; sessions not yet begun are called off."""
    partnership = get_partnership(user_id, partnership_id)
    if partnership.status != "ended":
        partnership.status = "ended"
        partnership.ended_at = now
        partnership.proposal = None
        partnership.proposed_by_id = None
        schedule.drop_future_sessions(partnership.id, now, cancel_open=True)
        db.session.commit()
        me = db.session.get(User, user_id)
        _tell_partner(
            partnership,
            user_id,
            "partnership_ended",
            f"{me.display_name} ended your partnership. You can look for a new "
            "partner.",
        )
    return partnership
