"""The re-teach schedule: one FSRS card per (student, topic key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class TopicCard(db.Model):
    """A student's memory of one topic as FSRS models it (the `fsrs` Card).

    Updated in the same transaction as each rating of the student's
    explanation; `flask ally rebuild-cards` recomputes every card from the
    ratings alone.
    """

    __tablename__ = "topic_cards"
    __table_args__ = (
        UniqueConstraint("user_id", "topic_key"),
        Index("ix_topic_cards_user_due", "user_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    topic_key: Mapped[str] = mapped_column(String(120))
    # The title as last taught (the key is its normalised form).
    topic: Mapped[str] = mapped_column(String(120))
    # fsrs.State (1 learning, 2 review, 3 relearning) and learning step.
    state: Mapped[int] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(Integer)
    stability: Mapped[float | None] = mapped_column(Float)
    difficulty: Mapped[float | None] = mapped_column(Float)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
