"""Teach sessions: one meeting of a partnership, and who attended it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..domain.vocabulary import OVER, STATUSES
from ..extensions import db
from .partner import Partnership
from .types import UTCDateTime, utcnow

SESSION_STATUSES = STATUSES
OVER_STATUSES = tuple(sorted(OVER))


class TeachSession(db.Model):
    """One meeting of a partnership: scheduled (one per local date) or extra."""

    __tablename__ = "teach_sessions"
    __table_args__ = (
        # Exactly one scheduled session per partnership and local date, whoever
        # (job, page, second scheduler) creates it first; extra sessions have NULL.
        UniqueConstraint("partnership_id", "scheduled_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(
        ForeignKey("partnerships.id", ondelete="CASCADE"), index=True
    )
    scheduled_date: Mapped[date | None] = mapped_column(Date)
    local_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10), default="scheduled")  # or "extra"
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="scheduled", index=True)
    # Room state (the live room owns these): phase, turn and its deadline.
    phase: Mapped[str] = mapped_column(String(10), default="waiting")
    current_turn: Mapped[int] = mapped_column(Integer, default=0)
    phase_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    turns: Mapped[int] = mapped_column(Integer, default=4)
    teach_seconds: Mapped[int] = mapped_column(Integer, default=720)
    rate_seconds: Mapped[int] = mapped_column(Integer, default=180)
    first_teacher_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    second_teacher_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Incremented on every state change: compare-and-set updates check it.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    partnership: Mapped[Partnership] = relationship()
    participants: Mapped[list[SessionParticipant]] = relationship(
        back_populates="teach_session",
        cascade="all, delete-orphan",
        order_by="SessionParticipant.user_id",
    )

    def member_ids(self) -> tuple[int, ...]:
        """The two teachers (first, then second), where they still exist."""
        return tuple(
            i for i in (self.first_teacher_id, self.second_teacher_id) if i is not None
        )

    @property
    def is_over(self) -> bool:
        """Completed, missed or cancelled."""
        return self.status in OVER_STATUSES


class SessionParticipant(db.Model):
    """One partner in one session: attendance, prepared topic, reminder flag."""

    __tablename__ = "session_participants"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("teach_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    planned_topic: Mapped[str | None] = mapped_column(String(120))
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    absent: Mapped[bool] = mapped_column(default=False)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    teach_session: Mapped[TeachSession] = relationship(back_populates="participants")
