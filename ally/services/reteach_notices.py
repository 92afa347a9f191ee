"""The re-teach notice: when topics fall due, one notification a day at most.

A student hears about due topics when at least one fell due since their last
notice (topics already announced and still untaught do not bring a new one),
once per local date (the dedupe key), unless they turned `reteach_reminders`
off. The notice lists every topic due, most overdue first; e-mail follows when
configured, like every notification.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..domain.timezones import local_date
from ..extensions import db
from ..models import Notification, TopicCard, User
from . import notifications

NOTIFICATION_KIND = "reteach"
# Cards that fell due this recently are news; older ones were announced (or
# fell due while the scheduler was down for more than a week).
FRESH = timedelta(days=7)
NAMED = 3  # topics named in the text; the rest are counted
URL = "/#due-topics"
CHUNK = 500


def notice_text(titles: list[str]) -> str:
    """E.g. "Time to teach again: RAAS and Loop diuretics (2 topics due)."."""
    named = titles[:NAMED]
    more = len(titles) - len(named)
    listed = ", ".join(named[:-1]) + (" and " if len(named) > 1 else "") + named[-1]
    if more:
        listed = ", ".join(named) + f" and {more} more"
    count = f"{len(titles)} topic{'s' if len(titles) != 1 else ''} due"
    return (
        f"Time to teach again: {listed} ({count}). "
        "Pick one when you prepare your next session."
    )


def _last_notices(user_ids: list[int]) -> dict[int, datetime]:
    return dict(
        db.session.execute(
            select(Notification.user_id, func.max(Notification.created_at))
            .where(
                Notification.kind == NOTIFICATION_KIND,
                Notification.user_id.in_(user_ids),
            )
            .group_by(Notification.user_id)
        ).all()
    )


def send_due_notices(now: datetime) -> int:
    """Notify students whose topics fell due since their last notice (once a
    local day); returns how many notifications were stored."""
    fresh = db.session.execute(
        select(TopicCard.user_id, func.max(TopicCard.due_at), User.timezone)
        .join(User, User.id == TopicCard.user_id)
        .where(
            User.reteach_reminders.is_(True),
            TopicCard.due_at <= now,
            TopicCard.due_at > now - FRESH,
        )
        .group_by(TopicCard.user_id, User.timezone)
    ).all()
    sent = 0
    for start in range(0, len(fresh), CHUNK):
        batch = fresh[start : start + CHUNK]
        last = _last_notices([row[0] for row in batch])
        news = {
            user_id: zone
            for user_id, newest, zone in batch
            if user_id not in last or newest > last[user_id]
        }
        if not news:
            continue
        due: dict[int, list[str]] = defaultdict(list)
        for user_id, title in db.session.execute(
            select(TopicCard.user_id, TopicCard.topic)
            .where(TopicCard.user_id.in_(news), TopicCard.due_at <= now)
            .order_by(TopicCard.user_id, TopicCard.due_at, TopicCard.topic_key)
        ):
            due[user_id].append(title)
        sent += notifications.notify_many(
            [
                {
                    "user_id": user_id,
                    "kind": NOTIFICATION_KIND,
                    "text": notice_text(due[user_id]),
                    "url": URL,
                    "dedupe_key": f"reteach:{user_id}:{local_date(now, zone)}",
                }
                for user_id, zone in news.items()
            ],
            now,
        )
    return sent
