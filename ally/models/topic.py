"""Topics: the models a user will teach."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class Topic(db.Model):
    """A model to teach from memory, e.g. "Renin-angiotensin-aldosterone system"."""

    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("user_id", "title_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(120))
    # Case- and space-insensitive form of the title: duplicates are refused on it.
    title_key: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
