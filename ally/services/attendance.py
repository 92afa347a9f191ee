"""Attendance figures for a user: the recent days, the streak, the share attended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select

from ..domain.attendance import HELD, MISSED, Attendance, Meeting, summarize
from ..domain.timezones import local_date
from ..extensions import db
from ..models import Partnership, SessionParticipant, TeachSession
from .accounts import get_user

# Held and missed sessions, as domain.attendance counts them.
COUNTED = (*HELD, MISSED)


def attendance(user_id: int, now: datetime, days: int = 7) -> Attendance:
    """The last `days` days in the user's own dates; streak, held, missed and
    attendance over all their sessions (the review's rule, same figures)."""
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
            TeachSession.starts_at <= now,
        )
    ).all()
    meetings = [
        Meeting(local_date(starts_at, user.timezone), status, bool(absent), starts_at)
        for starts_at, status, absent in rows
    ]
    return summarize(meetings, local_date(now, user.timezone), days)
