"""Calendar: a private iCalendar feed per user and an .ics per session."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy import select

from ..extensions import db
from ..models import Partnership, SessionParticipant, User
from .accounts import get_user
from .schedule import SessionItem, list_sessions

FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=60)
PRODID = "-//Ally//Teach-back sessions//EN"


def feed_token(user_id: int) -> str:
    """The user's calendar feed secret, created on first use."""
    user = get_user(user_id)
    if not user.calendar_token:
        user.calendar_token = secrets.token_urlsafe(24)
        db.session.commit()
    return user.calendar_token


def reset_feed_token(user_id: int) -> str:
    """Replace the feed secret: the old feed URL stops working."""
    user = get_user(user_id)
    user.calendar_token = secrets.token_urlsafe(24)
    db.session.commit()
    return user.calendar_token


def revoke_feed_token(user_id: int) -> None:
    """Turn the feed off: its URL stops working until a new one is made."""
    user = get_user(user_id)
    user.calendar_token = None
    db.session.commit()


def user_for_feed_token(token: str) -> User | None:
    """The owner of a feed secret, or None."""
    if not token or len(token) > 64:
        return None
    return db.session.scalar(select(User).where(User.calendar_token == token))


def _uid(item: SessionItem) -> str:
    """Stable per meeting, so calendar apps update an event instead of
    duplicating it: a scheduled meeting by partnership and local date (the same
    before and after it is stored), an extra session by its id."""
    if item.kind == "scheduled":
        return f"ally-{item.partnership_id}-{item.local_date}@ally"
    return f"ally-session-{item.id}@ally"


def _one_per_meeting(items: list[SessionItem]) -> list[SessionItem]:
    """One event per UID. A schedule change cancels the stored row of a date and
    the new schedule may meet that date too: both share the date's UID, and the
    feed carries the meeting that stands, so calendar apps move the event. A
    date left without a meeting keeps its cancelled row, so they drop it."""
    chosen: dict[str, SessionItem] = {}
    for item in items:
        kept = chosen.get(_uid(item))
        if kept is None or (kept.status == "cancelled" and item.status != "cancelled"):
            chosen[_uid(item)] = item
    return list(chosen.values())


def _event(item: SessionItem, user: User, names: dict, pships: dict, topics: dict):
    partnership = pships[item.partnership_id]
    tz = ZoneInfo(partnership.timezone)
    partner = names.get(item.partner_id, "a former member")
    who = (
        "you teach first"
        if item.first_teacher_id == user.id
        else (f"{partner} teaches first")
    )
    event = Event()
    event.add("uid", _uid(item))
    event.add("summary", f"Teach-back hour with {partner} ({who})")
    event.add("dtstart", item.starts_at.astimezone(tz))
    event.add("dtend", item.ends_at.astimezone(tz))
    event.add("dtstamp", item.starts_at)
    lines = ["Take turns explaining a model from memory; rate how simple it was."]
    topic = topics.get(item.id)
    if topic:
        lines.append(f"You will teach: {topic}")
    if partnership.meeting_url:
        lines.append(f"Call: {partnership.meeting_url}")
        event.add("location", partnership.meeting_url)
    event.add("description", "\n".join(lines))
    status = {"cancelled": "CANCELLED", "missed": "CANCELLED"}.get(item.status)
    event.add("status", status or "CONFIRMED")
    return event


def _calendar(items: list[SessionItem], user: User, now: datetime) -> bytes:
    pship_ids = {i.partnership_id for i in items}
    pships = {
        p.id: p
        for p in db.session.scalars(
            select(Partnership).where(Partnership.id.in_(pship_ids))
        )
    }
    partner_ids = {i.partner_id for i in items if i.partner_id}
    names = dict(
        db.session.execute(
            select(User.id, User.display_name).where(User.id.in_(partner_ids))
        ).all()
    )
    topics = dict(
        db.session.execute(
            select(
                SessionParticipant.session_id, SessionParticipant.planned_topic
            ).where(
                SessionParticipant.user_id == user.id,
                SessionParticipant.session_id.in_([i.id for i in items if i.id]),
            )
        ).all()
    )
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "Ally teach-back sessions")
    for item in items:
        calendar.add_component(_event(item, user, names, pships, topics))
    today = now.date()
    calendar.add_missing_timezones(
        first_date=today - FEED_PAST, last_date=today + FEED_AHEAD + timedelta(days=2)
    )
    return calendar.to_ical()


def user_feed(user: User, now: datetime) -> bytes:
    """The iCalendar feed of a user's sessions from 30 days ago to 60 days ahead."""
    items = list_sessions(user.id, now - FEED_PAST, now + FEED_AHEAD, now)
    return _calendar(_one_per_meeting(items), user, now)


def session_ics(user: User, item: SessionItem, now: datetime) -> bytes:
    """An .ics file holding one session."""
    return _calendar([item], user, now)
