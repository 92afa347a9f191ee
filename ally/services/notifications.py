"""Notifications: store once, push live to the user's sockets, queue an e-mail."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Notification, User, utcnow
from ..realtime.emit import emit_to_user
from .errors import NotFound
from .sql import insert_ignoring_conflicts

MAX_TEXT = 500
CHUNK = 500


def _email_configured() -> bool:
    return bool(current_app.config.get("ALLY_SMTP_HOST"))


def notify(
    user_id: int,
    kind: str,
    text: str,
    url: str | None = None,
    *,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> Notification | None:
    """Store a notification and push it; None if dedupe_key was already used."""
    user = db.session.get(User, user_id)
    if user is None:
        return None
    email = "pending" if user.email_notifications and _email_configured() else "none"
    notification = Notification(
        user_id=user_id,
        kind=kind,
        text=text[:MAX_TEXT],
        url=url,
        dedupe_key=dedupe_key,
        created_at=now or utcnow(),
        email_state=email,
    )
    # Commit the caller's work first: a duplicate key (a second job run) rolls
    # back only this notification.
    db.session.commit()
    db.session.add(notification)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    emit_to_user(user_id, "notification", payload(notification))
    return notification


def notify_many(items: list[dict], now: datetime) -> int:
    """Store many notifications at once (duplicates skipped) and push the new ones.

    Each item has user_id, kind, text, url and dedupe_key (required here).
    """
    if not items:
        return 0
    db.session.commit()
    emailing = _email_configured()
    wants_email = (
        set(
            db.session.scalars(
                select(User.id).where(
                    User.id.in_({i["user_id"] for i in items}),
                    User.email_notifications.is_(True),
                )
            )
        )
        if emailing
        else set()
    )
    rows = [
        {
            **item,
            "text": item["text"][:MAX_TEXT],
            "created_at": now,
            "email_state": "pending" if item["user_id"] in wants_email else "none",
        }
        for item in items
    ]
    created = []
    for start in range(0, len(rows), CHUNK):
        created += (
            db.session.execute(
                insert_ignoring_conflicts(Notification.__table__, ["dedupe_key"])
                .values(rows[start : start + CHUNK])
                .returning(Notification.id)
            )
            .scalars()
            .all()
        )
    db.session.commit()
    for start in range(0, len(created), CHUNK):
        fresh = db.session.scalars(
            select(Notification).where(
                Notification.id.in_(created[start : start + CHUNK])
            )
        )
        for notification in fresh:
            emit_to_user(notification.user_id, "notification", payload(notification))
    return len(created)


def payload(notification: Notification) -> dict:
    """The `notification` event of the room protocol (DESIGN.md §6)."""
    return {
        "id": notification.id,
        "kind": notification.kind,
        "text": notification.text,
        "url": notification.url,
        "created_at": notification.created_at.isoformat(),
    }


def list_notifications(user_id: int, limit: int = 50) -> list[Notification]:
    """The user's latest notifications, newest first."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def unread_count(user_id: int) -> int:
    """How many notifications the user has not read."""
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )


def mark_read(user_id: int, notification_id: int | None = None) -> int:
    """Mark one notification (or all of them) as read; returns how many changed."""
    query = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        if db.session.get(Notification, notification_id) is None:
            raise NotFound("No such notification.")
        query = query.where(Notification.id == notification_id)
    result = db.session.execute(query.values(read_at=utcnow()))
    db.session.commit()
    if notification_id is not None and result.rowcount == 0:
        owned = db.session.scalar(
            select(Notification.id).where(
                Notification.id == notification_id, Notification.user_id == user_id
            )
        )
        if owned is None:
            raise NotFound("No such notification.")
    return result.rowcount
