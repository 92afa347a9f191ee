"""Logins that can end, password-reset tokens, and failed login attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class Login(db.Model):
    """One logged-in browser: its cookie names this row, and ending the login
    (logout, log out everywhere, a new password) deletes it, so a saved copy of
    the cookie no longer logs anyone in. Only the key's SHA-256 is stored."""

    __tablename__ = "logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordReset(db.Model):
    """A one-time password-reset link: the token's SHA-256, valid until
    `expires_at`, spent once (`used_at`)."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthAttempt(db.Model):
    """A counted attempt against one account key (a digest of the e-mail as
    typed, known account or not): failed logins, reset e-mails asked for."""

    __tablename__ = "auth_attempts"
    __table_args__ = (Index("ix_auth_attempts_key_kind_at", "key", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, default=utcnow)
