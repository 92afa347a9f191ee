"""Accounts: register, authenticate, change password, delete."""

from __future__ import annotations

from functools import cache

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ..domain.passwords import password_problem
from ..domain.timezones import is_valid_timezone
from ..extensions import db
from ..models import Partnership, Profile, User, utcnow
from ..offload import blocking
from . import schedule
from .errors import Conflict, Invalid, NotFound, Unauthorized
from .room import presence
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
    """The user with these credentials; the same error for any mismatch."""
    # Before any lookup: hashing cannot encode such a password (and saying so
    # reveals nothing about the account).
    require_storable(password or "", "password")
    try:
        email = normalize_email(email)
    except Invalid:
        email = ""
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    if user is None:
        # Spend the same work as a real check so timing does not reveal accounts.
        blocking(check_password_hash, _dummy_hash(), password or "")
        raise Unauthorized(WRONG_CREDENTIALS)
    if not user.check_password(password or ""):
        raise Unauthorized(WRONG_CREDENTIALS)
    return user


def get_user(user_id: int) -> User:
    """The user with this id, or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def end_all_logins(user_id: int) -> None:
    """Invalidate every login cookie and socket of the user."""
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(auth_version=User.auth_version + 1)
    )
    db.session.commit()
    presence.disconnect_user(user_id)


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


def change_password(user_id: int, current: str, new: str) -> User:
    """Replace the password after checking the current one; ends other logins."""
    require_storable(current or "", "current_password")
    user = get_user(user_id)
    if not user.check_password(current or ""):
        raise Invalid("Your current password is not right.", field="current_password")
    check_new_password(new, user.email)
    user.set_password(new)
    user.auth_version += 1
    db.session.commit()
    # Sockets opened under the old password close (and are refused if they
    # send anything before they do: their auth_version no longer matches).
    presence.disconnect_user(user_id)
    return user


def logged_out(user_id: int) -> int:
    """A user logged out: their open sockets close; returns how many."""
    return presence.disconnect_user(user_id)


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
