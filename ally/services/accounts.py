"""Accounts: register, authenticate, logins that end, change password, delete."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ..domain.passwords import password_problem
from ..domain.text import bidi_control_reason
from ..domain.timezones import is_valid_timezone
from ..extensions import db
from ..models import (
    ApiToken,
    LiveSocket,
    Login,
    Partnership,
    PasswordReset,
    Profile,
    User,
    utcnow,
)
from ..offload import blocking
from ..push import disconnect_socket
from . import login_limits, schedule
from .errors import Conflict, Invalid, NotFound, Unauthorized
from .room import presence
from .room.kept_facts import kept_facts
from .storable import require_storable

MAX_EMAIL = 254
MAX_DISPLAY_NAME = 60
WRONG_CREDENTIALS = "Wrong email or password."


@cache
def _dummy_hash() -> str:
    """A real scrypt hash to check against when the email is unknown."""
    return generate_password_hash("not-a-real-password", method="scrypt")


def normalize_email(raw: str) -> str:
    """A canonical, lower-case form of an email address, or Invalid."""
    raw = (raw or "").strip()
    if not raw or len(raw) > MAX_EMAIL:
        raise Invalid("Enter a valid email address.", field="email")
    try:
        info = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"Enter a valid email address: {exc}", field="email") from exc
    return info.normalized.lower()


def clean_display_name(raw: str) -> str:
    """A display name of 1 to 60 visible characters, or Invalid."""
    name = " ".join(require_storable(raw or "", "display_name").split())
    if bidi_control_reason(name):
        raise Invalid(
            f"Your display name {bidi_control_reason(name)}", field="display_name"
        )
    if not name:
        raise Invalid("Enter a display name.", field="display_name")
    if len(name) > MAX_DISPLAY_NAME:
        raise Invalid(
            f"Use at most {MAX_DISPLAY_NAME} characters for your display name.",
            field="display_name",
        )
    return name


def clean_timezone(raw: str) -> str:
    """A known IANA time zone name, or Invalid."""
    name = (raw or "").strip()
    if not is_valid_timezone(name):
        raise Invalid(
            f"'{name[:64]}' is not a known time zone (e.g. America/New_York).",
            field="timezone",
        )
    return name


def check_new_password(password: str, email: str | None = None) -> None:
    """Raise Invalid when the password breaks a rule."""
    require_storable(password or "", "password")
    problem = password_problem(password or "", email=email)
    if problem:
        raise Invalid(problem, field="password")


def register(email: str, password: str, display_name: str, timezone: str) -> User:
    """Create an account with an empty profile."""
    email = normalize_email(email)
    name = clean_display_name(display_name)
    tz = clean_timezone(timezone)
    check_new_password(password, email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("An account with that email already exists.", field="email")
    user = User(email=email, display_name=name, timezone=tz)
    user.set_password(password)
    user.profile = Profile(subjects=[], availability=[], bio="")
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User:
    """The user with these credentials; the same error for any mismatch.

    At most `login_limits.LOGIN_FAILURES` wrong attempts per account (known or
    not: the e-mail as typed is what is counted) per window, on top of the
    per-address limit of the endpoints; past it even the right password waits.
    """
    # Before any lookup: hashing cannot encode such a password (and saying so
    # reveals nothing about the account).
    require_storable(password or "", "password")
    key = login_limits.account_key(email)
    now = utcnow()
    login_limits.check_login(key, now)
    try:
        email = normalize_email(email)
    except Invalid:
        email = ""
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    # An unknown address spends the same work as a real check (timing reveals
    # nothing). The hash waits for a worker thread: the pooled connection goes
    # back first, or a burst of logins held every connection while queued and
    # other requests failed after the pool's 30 s (bench/soak.py, 200 logins).
    stored = user.password_hash if user is not None else _dummy_hash()
    db.session.commit()
    if not blocking(check_password_hash, stored, password or "") or user is None:
        login_limits.login_failed(key, now)
        raise Unauthorized(WRONG_CREDENTIALS)
    login_limits.clear_login_failures(key)
    return user


def get_user(user_id: int) -> User:
    """The user with this id, or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


# --- logins that end ------------------------------------------------------------

# A live_sockets row whose auth_version no longer matches its user's is refused
# on its next event (presence.socket_user); user versions start at 1.
ENDED_SOCKET_VERSION = 0


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def start_login(user: User) -> str:
    """Record a new login of the user; returns the cookie's login id.

    The id is "<user id>:<secret>"; only the secret's SHA-256 is stored. The
    user object carries the id (get_id) and the login's row id from here on.
    """
    secret = secrets.token_urlsafe(24)
    login = Login(user_id=user.id, key_hash=_digest(secret), created_at=utcnow())
    db.session.add(login)
    db.session.commit()
    user.login_key = f"{user.id}:{secret}"
    user.login_id = login.id
    return user.login_key


def load_login(login_key: str) -> User | None:
    """The user of a cookie's login id, unless that login has ended."""
    user_id, _, secret = (login_key or "").partition(":")
    if not user_id.isdigit() or not secret or len(secret) > 64:
        return None
    row = db.session.execute(
        select(User, Login.id)
        .join(Login, Login.user_id == User.id)
        .where(User.id == int(user_id), Login.key_hash == _digest(secret))
    ).first()
    if row is None:
        return None
    user, login_id = row
    user.login_key, user.login_id = login_key, login_id
    return user


def credential_alive(login_id: int | None, api_token_id: int | None) -> bool:
    """Whether the login or API token a socket came through still exists."""
    if login_id is not None:
        found = select(Login.id).where(Login.id == login_id)
    elif api_token_id is not None:
        found = select(ApiToken.id).where(ApiToken.id == api_token_id)
    else:
        return False
    return db.session.scalar(found) is not None


def _end_sockets(condition) -> int:
    """Refuse, then close, the sockets matching `condition`; returns how many."""
    sids = list(
        db.session.scalars(
            update(LiveSocket)
            .where(condition)
            .values(auth_version=ENDED_SOCKET_VERSION)
            .returning(LiveSocket.sid)
        )
    )
    db.session.commit()
    # Each socket's disconnect handler (on whichever process holds it) removes
    # its row and tells its room the user left.
    for sid in sids:
        kept_facts().forget_socket(sid)  # its next signal reads the ended login
        disconnect_socket(sid)
    return len(sids)


def end_login(user_id: int, login_id: int | None) -> int:
    """Log out one login: its cookie stops working and its sockets close;
    returns how many sockets closed."""
    if login_id is None:
        return 0
    closed = _end_sockets(LiveSocket.login_id == login_id)
    db.session.execute(
        delete(Login).where(Login.id == login_id, Login.user_id == user_id)
    )
    db.session.commit()
    return closed


def end_all_logins(user_id: int, *, revoke_tokens: bool = False) -> None:
    """End every login of the user, and with `revoke_tokens` every API token:
    their cookies, tokens and sockets stop working, and every socket of the
    user closes."""
    db.session.execute(delete(Login).where(Login.user_id == user_id))
    if revoke_tokens:
        db.session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    # Sockets opened before this are refused on their next event.
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(auth_version=User.auth_version + 1)
    )
    db.session.commit()
    presence.disconnect_user(user_id)


def log_out_everywhere(user_id: int) -> None:
    """End every login and socket of the user and revoke their API tokens."""
    end_all_logins(user_id, revoke_tokens=True)


REMINDER_CHOICES = (0, 5, 10, 15, 30, 60, 120)


def update_notification_settings(
    user_id: int,
    reminder_minutes: object,
    email_notifications: object,
    reteach_reminders: object = None,
) -> User:
    """How long before a session to remind the user (0 = never), e-mail on/off,
    and the daily notice of topics due to teach again (None: unchanged)."""
    if isinstance(reminder_minutes, bool) or reminder_minutes not in REMINDER_CHOICES:
        choices = ", ".join(str(c) for c in REMINDER_CHOICES)
        raise Invalid(
            f"Reminder must be one of {choices} minutes.", field="reminder_minutes"
        )
    if not isinstance(email_notifications, bool):
        raise Invalid("E-mail must be on or off.", field="email_notifications")
    if reteach_reminders is not None and not isinstance(reteach_reminders, bool):
        raise Invalid("Re-teach notices must be on or off.", field="reteach_reminders")
    user = get_user(user_id)
    user.reminder_minutes = reminder_minutes
    user.email_notifications = email_notifications
    if reteach_reminders is not None:
        user.reteach_reminders = reteach_reminders
    db.session.commit()
    return user


def set_new_password(user: User, new: str) -> None:
    """Store a new password (already checked): every login ends, every socket
    closes, unused reset links die. API tokens stay."""
    user.set_password(new)
    db.session.execute(
        delete(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)
        )
    )
    # Sockets opened under the old password close (and are refused if they
    # send anything before they do: their auth_version no longer matches).
    end_all_logins(user.id)


def change_password(user_id: int, current: str, new: str) -> User:
    """Replace the password after checking the current one; every login ends
    (the page starts a new one for the browser that changed it)."""
    require_storable(current or "", "current_password")
    user = get_user(user_id)
    if not user.check_password(current or ""):
        raise Invalid("Your current password is not right.", field="current_password")
    check_new_password(new, user.email)
    set_new_password(user, new)
    return user


def delete_account(user_id: int, password: str) -> None:
    """Delete the account after checking the password.

    Partnerships the user was in are ended and keep the partner's history; the
    user's profile, topics, tokens, requests and blocks are deleted with them.
    """
    require_storable(password or "", "password")
    user = get_user(user_id)
    if not user.check_password(password or ""):
        raise Invalid("Your password is not right.", field="password")
    now = utcnow()
    ended = db.session.scalars(
        update(Partnership)
        .where(
            (Partnership.user_a_id == user_id) | (Partnership.user_b_id == user_id),
            Partnership.status != "ended",
        )
        .values(status="ended", ended_at=now, proposal=None, proposed_by_id=None)
        .returning(Partnership.id)
    ).all()
    for partnership_id in ended:
        schedule.drop_future_sessions(partnership_id, now, cancel_open=True)
    db.session.delete(user)
    db.session.commit()
