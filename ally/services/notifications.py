"""Notifications: store once, push live to the user's sockets, queue an e-mail."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Notification, User, utcnow
from ..push import emit_to_user
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
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    sent = payload(notification)  # read now: the commit expires the row
    db.session.commit()
    emit_to_user(user_id, "notification", sent)
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
    # executemany with one cached statement; duplicates are skipped by the key.
    insert = insert_ignoring_conflicts(
        Notification.__table__, ["dedupe_key"]
    ).returning(Notification.id)
    for start in range(0, len(rows), CHUNK):
        created += (
            db.session.execute(insert, rows[start : start + CHUNK]).scalars().all()
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


def list_notifications(
    user_id: int, limit: int = 50, unread_only: bool = False
) -> list[Notification]:
    """The user's latest notifications, newest first."""
    query = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(db.session.scalars(query))


def unread_count(user_id: int) -> int:
    """How many notifications the user has not read."""
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )


def mark_read(user_id: int) -> int:
    """Mark all of the user's notifications read; returns how many changed."""
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.commit()
    return result.rowcount


def open_notification(user_id: int, notification_id: int) -> Notification:
    """One of the user's notifications, marked read; NotFound for anyone else's."""
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = utcnow()
        db.session.commit()
    return notification
