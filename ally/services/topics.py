"""Topics: the models a user will teach from memory."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Topic
from .errors import Conflict, Invalid, NotFound
from .storable import require_storable

MAX_TITLE = 120
MAX_SUBJECT = 40
MAX_TOPICS = 500


def _clean_title(title: str) -> tuple[str, str]:
    """The title with spaces collapsed, and its duplicate-detection key."""
    if not isinstance(title, str):
        raise Invalid("Title must be text.", field="title")
    clean = " ".join(require_storable(title, "title").split())
    if not clean:
        raise Invalid("Enter a title.", field="title")
    if len(clean) > MAX_TITLE:
        raise Invalid(f"Use at most {MAX_TITLE} characters for a title.", field="title")
    return clean, clean.casefold()


def _clean_subject(subject: str | None) -> str | None:
    if subject is None:
        return None
    if not isinstance(subject, str):
        raise Invalid("Subject must be text.", field="subject")
    clean = " ".join(require_storable(subject, "subject").split())
    if len(clean) > MAX_SUBJECT:
        raise Invalid(
            f"Use at most {MAX_SUBJECT} characters for a subject.", field="subject"
        )
    return clean or None


def list_topics(user_id: int) -> list[Topic]:
    """The user's topics, by subject then title."""
    return list(
        db.session.scalars(
            select(Topic)
            .where(Topic.user_id == user_id)
            .order_by(Topic.subject, Topic.title_key)
        )
    )


def get_topic(user_id: int, topic_id: int) -> Topic:
    """One of the user's topics, or NotFound."""
    topic = db.session.get(Topic, topic_id)
    if topic is None or topic.user_id != user_id:
        raise NotFound("No such topic.")
    return topic


def _duplicate(user_id: int, key: str, except_id: int | None = None) -> bool:
    query = select(Topic.id).where(Topic.user_id == user_id, Topic.title_key == key)
    if except_id is not None:
        query = query.where(Topic.id != except_id)
    return db.session.scalar(query) is not None


def _commit_or_conflict() -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:  # a concurrent add of the same title
        db.session.rollback()
        raise Conflict(
            "You already have a topic with that title.", field="title"
        ) from exc


def add_topic(user_id: int, title: str, subject: str | None = None) -> Topic:
    """Add a topic; a title the user already has is refused."""
    title, key = _clean_title(title)
    subject = _clean_subject(subject)
    if _duplicate(user_id, key):
        raise Conflict("You already have a topic with that title.", field="title")
    count = db.session.scalar(
        select(db.func.count()).select_from(Topic).where(Topic.user_id == user_id)
    )
    if count >= MAX_TOPICS:
        raise Invalid(f"You can keep at most {MAX_TOPICS} topics.")
    topic = Topic(user_id=user_id, title=title, title_key=key, subject=subject)
    db.session.add(topic)
    _commit_or_conflict()
    return topic


_KEEP = object()


def update_topic(
    user_id: int, topic_id: int, title: str | None = None, subject=_KEEP
) -> Topic:
    """Rename a topic and/or change its subject."""
    topic = get_topic(user_id, topic_id)
    if title is not None:
        clean, key = _clean_title(title)
        if _duplicate(user_id, key, except_id=topic.id):
            raise Conflict("You already have a topic with that title.", field="title")
        topic.title, topic.title_key = clean, key
    if subject is not _KEEP:
        topic.subject = _clean_subject(subject)
    _commit_or_conflict()
    return topic


def remove_topic(user_id: int, topic_id: int) -> None:
    """Delete one of the user's topics."""
    topic = get_topic(user_id, topic_id)
    db.session.delete(topic)
    db.session.commit()
