"""Attempts counted per account, whatever the address they come from.

Counted in the database (table auth_attempts), so every web process shares the
count without a shared Flask-Limiter storage. The key is a digest of the e-mail
as typed (trimmed, lower-case), so unknown addresses are counted exactly like
real accounts and the answer reveals nothing about which exist.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from ..extensions import db
from ..models import AuthAttempt
from .errors import RateLimited

# What an auth_attempts row counts (written only here).
ATTEMPT_LOGIN_FAILED = "login_failed"
ATTEMPT_RESET_MAIL = "reset_mail"
LOGIN_FAILURES = 10  # wrong passwords per account per window
RESET_MAILS = 3  # reset e-mails per account per window
WINDOW = timedelta(minutes=15)
TOO_MANY_LOGINS = (
    "Too many failed attempts for this account. Wait 15 minutes and try again, "
    "or reset your password."
)


def account_key(email: object) -> str:
    """The counted key of an e-mail as typed (no lookup: known or not alike)."""
    text = email.strip().lower() if isinstance(email, str) else ""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _count(key: str, kind: str, now: datetime) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(AuthAttempt)
        .where(AuthAttempt.key == key, AuthAttempt.kind == kind)
        .where(AuthAttempt.at > now - WINDOW)
    )


def _record(key: str, kind: str, now: datetime) -> None:
    # Old rows go on every write, so the table holds at most one window.
    db.session.execute(delete(AuthAttempt).where(AuthAttempt.at <= now - WINDOW))
    db.session.add(AuthAttempt(key=key, kind=kind, at=now))
    db.session.commit()


def check_login(key: str, now: datetime) -> None:
    """RateLimited when the account has had too many failed logins lately."""
    if _count(key, ATTEMPT_LOGIN_FAILED, now) >= LOGIN_FAILURES:
        raise RateLimited(TOO_MANY_LOGINS)


def login_failed(key: str, now: datetime) -> None:
    """Count one failed login against the account key."""
    _record(key, ATTEMPT_LOGIN_FAILED, now)


def clear_login_failures(key: str) -> None:
    """A successful login or password reset: the count starts again."""
    db.session.execute(
        delete(AuthAttempt).where(
            AuthAttempt.key == key, AuthAttempt.kind == ATTEMPT_LOGIN_FAILED
        )
    )
    db.session.commit()


def reset_mail_allowed(key: str, now: datetime) -> bool:
    """Count a reset e-mail asked for; False when the account has had enough
    of them lately (the request is answered the same, but no e-mail goes)."""
    allowed = _count(key, ATTEMPT_RESET_MAIL, now) < RESET_MAILS
    _record(key, ATTEMPT_RESET_MAIL, now)
    return allowed
