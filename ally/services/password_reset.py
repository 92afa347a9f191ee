"""Password reset by e-mail: a one-time link, stored hashed, valid one hour.

Asking for a link answers the same whatever the address, and does the same
work either way (a token is made and hashed even for an unknown address), so
neither the answer nor its timing says which addresses have accounts.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import PasswordReset, User
from . import accounts, login_limits
from .errors import Invalid
from .storable import require_storable

TOKEN_TTL = timedelta(hours=1)
MAX_TOKEN = 100  # far above a real token's 43 characters
SENT = "If an account uses that address, we sent it a link to choose a new password."
SUBJECT = "Ally: choose a new password"


class InvalidToken(Invalid):
    """A reset link that is unknown, used, replaced or over an hour old."""

    code = "invalid_token"


BAD_LINK = (
    "This reset link does not work any more: it was used, replaced by a newer "
    "one, or is over an hour old. Ask for a new link."
)


@dataclass(frozen=True)
class ResetMail:
    """An e-mail to send: the address and the raw token for its link."""

    to: str
    token: str


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def request_reset(email: object, now: datetime) -> ResetMail | None:
    """Make a reset link for the account using `email`, if any: the e-mail to
    send, or None (no such account, or enough links asked for lately)."""
    token = secrets.token_urlsafe(32)
    token_hash = _digest(token)  # made either way: the same work for any address
    allowed = login_limits.reset_mail_allowed(login_limits.account_key(email), now)
    try:
        address = accounts.normalize_email(email if isinstance(email, str) else "")
    except Invalid:
        return None
    user = db.session.scalar(select(User).where(User.email == address))
    if user is None or not allowed:
        return None
    # A new link replaces every older one not yet used.
    db.session.execute(
        delete(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)
        )
    )
    db.session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + TOKEN_TTL,
        )
    )
    db.session.commit()
    return ResetMail(to=user.email, token=token)


def _live_reset(token: object, now: datetime) -> PasswordReset:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise InvalidToken(BAD_LINK, field="token")
    require_storable(token, "token")
    reset = db.session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == _digest(token))
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        raise InvalidToken(BAD_LINK, field="token")
    return reset


def check_token(token: object, now: datetime) -> None:
    """InvalidToken unless the link can still be used (for showing its page)."""
    _live_reset(token, now)


def confirm_reset(token: object, password: str, now: datetime) -> User:
    """Set a new password through a reset link: the link is spent, and every
    login and cookie socket of the user ends (API tokens stay)."""
    reset = _live_reset(token, now)
    user = db.session.get(User, reset.user_id)
    accounts.check_new_password(password, user.email)
    # Spent once even when two requests race: only one UPDATE finds it unused.
    spent = db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        db.session.rollback()
        raise InvalidToken(BAD_LINK, field="token")
    accounts.set_new_password(user, password)
    # Whoever holds the mailbox holds the account: lift any lock-out.
    login_limits.clear_login_failures(login_limits.account_key(user.email))
    return user


def mail_text(link: str) -> str:
    """The reset e-mail's body."""
    return (
        "Someone (we hope you) asked to choose a new password for your Ally "
        "account.\n\n"
        f"Open this link within an hour to choose it:\n\n{link}\n\n"
        "The link works once. If you did not ask, ignore this e-mail: your "
        "password stays as it is.\n\n— Ally"
    )
