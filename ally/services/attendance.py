"""Attendance figures for a user: the recent days, the streak, the share attended."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from ..domain.attendance import Attendance, Meeting, summarize
from ..domain.timezones import local_date
from ..extensions import db
from ..models import Partnership, SessionParticipant, TeachSession
from .accounts import get_user

WINDOW = timedelta(days=90)
COUNTED = ("completed", "live", "missed")


def attendance(user_id: int, now: datetime, days: int = 7) -> Attendance:
    """The last `days` days in the user's own dates, streak and attendance (90 days)."""
    user = get_user(user_id)
    rows = db.session.execute(
        select(TeachSession.starts_at, TeachSession.status, SessionParticipant.absent)
        .join(Partnership, Partnership.id == TeachSession.partnership_id)
        .outerjoin(
            SessionParticipant,
            and_(
                SessionParticipant.session_id == TeachSession.id,
                SessionParticipant.user_id == user_id,
            ),
        )
        .where(
            or_(Partnership.user_a_id == user_id, Partnership.user_b_id == user_id),
            TeachSession.status.in_(COUNTED),
            TeachSession.starts_at >= now - WINDOW,
            TeachSession.starts_at <= now,
        )
    ).all()
    meetings = [
        Meeting(local_date(starts_at, user.timezone), status, bool(absent), starts_at)
        for starts_at, status, absent in rows
    ]
    return summarize(meetings, local_date(now, user.timezone), days)
