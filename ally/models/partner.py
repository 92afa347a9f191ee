"""Partner requests, blocks and partnerships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow
from .user import User


def pair_key(a: int, b: int) -> str:
    """An order-independent key for two user ids."""
    low, high = sorted((a, b))
    return f"{low}:{high}"


class PartnerRequest(db.Model):
    """One user asks another to be partners."""

    __tablename__ = "partner_requests"
    __table_args__ = (
        # One pending request per pair, whoever sent it.
        Index(
            "uq_partner_requests_pending_pair",
            "pair_key",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    from_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    to_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    pair_key: Mapped[str] = mapped_column(String(41))
    message: Mapped[str] = mapped_column(String(500), default="")
    # pending -> accepted / declined / cancelled / expired
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    from_user: Mapped[User] = relationship(foreign_keys=[from_user_id])
    to_user: Mapped[User] = relationship(foreign_keys=[to_user_id])


class Block(db.Model):
    """A user who must not see, or be seen by, another."""

    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("blocker_id", "blocked_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    blocker_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    blocked_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    blocked: Mapped[User] = relationship(foreign_keys=[blocked_id])


class Partnership(db.Model):
    """Two users who meet daily at a time fixed in one time zone."""

    __tablename__ = "partnerships"

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL once that member deleted their account (the partnership is then ended).
    user_a_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    user_b_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    daily_minute: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    session_minutes: Mapped[int] = mapped_column(Integer, default=60)
    turns: Mapped[int] = mapped_column(Integer, default=4)
    # Bit i set = meets on weekday i (0 = Monday); 127 = every day.
    weekdays: Mapped[int] = mapped_column(Integer, default=127)
    meeting_url: Mapped[str | None] = mapped_column(String(500))
    # active / paused / ended
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A schedule change one partner proposed and the other has not agreed to yet.
    proposal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    proposed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    user_a: Mapped[User | None] = relationship(foreign_keys=[user_a_id])
    user_b: Mapped[User | None] = relationship(foreign_keys=[user_b_id])

    def member_ids(self) -> tuple[int, ...]:
        """The ids of the members still holding an account."""
        return tuple(i for i in (self.user_a_id, self.user_b_id) if i is not None)

    def partner_of(self, user_id: int) -> User | None:
        """The other member, seen from user_id."""
        return self.user_b if self.user_a_id == user_id else self.user_a
