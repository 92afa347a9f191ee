"""Accounts: users, their profiles and API tokens."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..offload import blocking
from .types import UTCDateTime, utcnow


class User(UserMixin, db.Model):
    """An account: email, password, display name and IANA time zone."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(60))
    timezone: Mapped[str] = mapped_column(String(64))
    # Bumped on logout-everywhere and password change: older sockets are refused.
    auth_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Notification settings: minutes before a session to remind, e-mail on/off.
    reminder_minutes: Mapped[int] = mapped_column(Integer, default=10)
    email_notifications: Mapped[bool] = mapped_column(default=True)
    # At most one notice a day when topics fall due for re-teaching.
    reteach_reminders: Mapped[bool] = mapped_column(default=True)
    # Secret part of the private calendar feed URL; NULL = no feed.
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    profile: Mapped[Profile] = relationship(
        back_populates="user", cascade="all, delete-orphan", uselist=False
    )

    # Not columns: the login this object was loaded through, if any (set by
    # services.accounts.start_login and load_login; None for an API token).
    login_key = None
    login_id = None

    def set_password(self, password: str) -> None:
        """Store a scrypt hash of the password."""
        self.password_hash = blocking(generate_password_hash, password, "scrypt")

    def check_password(self, password: str) -> bool:
        """Whether the password matches the stored hash."""
        return blocking(check_password_hash, self.password_hash, password)

    def get_id(self) -> str:
        """Flask-Login id: names this user's login (services.accounts.start_login),
        so ending the login ends every copy of its cookie."""
        return self.login_key or f"{self.id}:"


class Profile(db.Model):
    """What a student studies and when they can meet."""

    __tablename__ = "profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    exam: Mapped[str | None] = mapped_column(String(80))
    exam_date: Mapped[date | None] = mapped_column(Date)
    subjects: Mapped[list[str]] = mapped_column(JSON, default=list)
    bio: Mapped[str] = mapped_column(Text, default="")
    # [{"start": "19:00", "end": "21:30", "weekdays": [0, 2] | None}, ...]
    availability: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    looking_for_partner: Mapped[bool] = mapped_column(default=True)
    auto_match: Mapped[bool] = mapped_column(default=False)
    # Terms this student must use (e.g. "angiotensin"): not flagged as rare.
    allowed_terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    user: Mapped[User] = relationship(back_populates="profile")


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(60))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
