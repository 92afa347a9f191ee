"""The review's four-way calibration: a student's predictions, self-ratings,
partners' ratings and re-checks, per topic and over time (domain.calibration).

One query over the student's rated explanations of the last six months
(domain.calibration.HORIZON), by the teacher's start index: a few hundred rows
whatever the history's length. Measured in-process on the review bench's
five-year student (7,220 explanations, 704 rated in the horizon), p50 on a busy
box: 3.7 ms on SQLite (the query 1.8, the figures 1.6), 6.0 ms on PostgreSQL —
as much as reading a stamp to keep them would cost (3.5 ms on SQLite), so they
are not kept: always fresh, never stale (docs/review.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select

from ..domain import calibration as rules
from ..extensions import db
from ..models import Rating, Turn
from .accounts import get_user
from .reviews import _utc_text


def rated(user_id: int, since: datetime) -> list[rules.Rated]:
    """The user's explanations since then that their partner rated, oldest
    first (one query)."""
    # Core rows, not ORM ones, and instants as ISO text: see reviews.history.
    rows = (
        db.session.connection()
        .execute(
            select(
                func.coalesce(Turn.topic, ""),
                _utc_text(Turn.started_at),
                Rating.simplicity,
                Turn.predicted_simplicity,
                Turn.self_simplicity,
                Turn.recheck_simplicity,
            )
            # A rating's teacher is its turn's teacher: the user's ratings by index.
            .join(
                Rating,
                and_(Rating.turn_id == Turn.id, Rating.teacher_id == user_id),
            )
            .where(Turn.teacher_id == user_id, Turn.started_at >= since)
            .order_by(Turn.started_at, Turn.id)
        )
        .all()
    )
    make, instant = rules.Rated._make, datetime.fromisoformat
    return [
        make((topic, instant(at), partner, predicted, own, again))
        for topic, at, partner, predicted, own, again in rows
    ]


def four_way(user_id: int, now: datetime) -> rules.FourWay:
    """The student's four-way calibration over the six months before `now`."""
    timezone = get_user(user_id).timezone
    return rules.four_way(rated(user_id, rules.horizon_start(now)), timezone)
