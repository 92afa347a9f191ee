"""The re-teach schedule: each student's FSRS card per topic, kept with the ratings.

A rated explanation is a review of its teacher's card for the turn's topic key
(`domain.review.topic_key`, as the review groups topics), at the instant the
explanation ended (the turn's `teach_ends_at`: known when the rating arrives
and never changed afterwards, so a rebuild sees the same instants). Unrated
turns and turns without a topic are not reviews. `rebuild` recomputes every
card from the ratings alone; the rules are `domain.reteach`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from itertools import groupby
from typing import NamedTuple, Protocol

from flask import current_app
from sqlalchemy import Row, bindparam, delete, insert, select, update

from ..domain import reteach as rules
from ..domain.review import topic_key
from ..extensions import db
from ..models import Rating, TopicCard, Turn, utcnow
from .sql import insert_ignoring_conflicts
from .topics import list_topics

CHUNK = 500


def retention() -> float:
    """The desired retention the schedule aims for (ALLY_DESIRED_RETENTION)."""
    return float(current_app.config["ALLY_DESIRED_RETENTION"])


class Review(NamedTuple):
    """One rated explanation as the schedule sees it."""

    teacher_id: int
    key: str
    topic: str
    at: datetime
    simplicity: int
    turn_id: int


def _reviews(*where) -> list[Review]:
    """Rated turns with a topic, in time order per (teacher, key)."""
    rows = db.session.execute(
        select(
            Turn.teacher_id,
            Turn.topic,
            Turn.teach_ends_at,
            Rating.created_at,
            Rating.simplicity,
            Turn.id,
        )
        .join(Rating, Rating.turn_id == Turn.id)
        .where(Turn.topic.is_not(None), *where)
    ).all()
    found = [
        Review(teacher, topic_key(topic), topic, ended or rated, simplicity, turn)
        for teacher, topic, ended, rated, simplicity, turn in rows
        if topic_key(topic)
    ]
    return sorted(found, key=lambda r: (r.teacher_id, r.key, r.at, r.turn_id))


def _state(card: TopicCard) -> rules.CardState:
    return rules.CardState(*(getattr(card, name) for name in FSRS_COLUMNS))


def _columns(state: rules.CardState) -> dict:
    """The card's FSRS columns (every field of CardState has its column)."""
    return asdict(state)


# The rating's path runs these prepared statements (Core, no unit of work):
# measured, the ORM's load and flush were most of the update's cost.
_CARD = TopicCard.__table__
FSRS_COLUMNS = tuple(field.name for field in fields(rules.CardState))
_TURN = select(Turn.teacher_id, Turn.topic, Turn.teach_ends_at).where(
    Turn.id == bindparam("turn_id")
)
_FIND = (
    select(_CARD.c.id, *(_CARD.c[name] for name in FSRS_COLUMNS))
    .where(
        _CARD.c.user_id == bindparam("user_id"), _CARD.c.topic_key == bindparam("key")
    )
    .with_for_update()
)
_SAVE = update(_CARD).where(_CARD.c.id == bindparam("card_id"))


def _locked_card(user_id: int, key: str, topic: str, at: datetime) -> Row:
    """The student's card (id and FSRS columns), created if new, locked until
    the caller's commit."""
    where = {"user_id": user_id, "key": key}
    row = db.session.execute(_FIND, where).one_or_none()
    if row is not None:
        return row
    # A new topic: two ratings of it at once both insert; one row wins.
    db.session.execute(
        insert_ignoring_conflicts(_CARD, ["user_id", "topic_key"]),
        {
            "user_id": user_id,
            "topic_key": key,
            "topic": topic,
            "state": int(rules.State.Learning),
            "due_at": at,
            "reviews": 0,
            "updated_at": at,
        },
    )
    return db.session.execute(_FIND, where).one()


class RatedTurn(Protocol):
    """What a rating's card update needs of its turn (a Turn row has it)."""

    teacher_id: int
    topic: str | None
    teach_ends_at: datetime | None


def review(
    turn_id: int, simplicity: int, now: datetime, turn: RatedTurn | None = None
) -> rules.CardState | None:
    """Count the rating of a turn on its teacher's card, in the caller's
    transaction (no commit); None when the turn has no topic.

    A caller that read the turn in this transaction passes it: on PostgreSQL
    that saves one of the update's three round trips (docs/performance.md).
    """
    if turn is None:
        turn = db.session.execute(_TURN, {"turn_id": turn_id}).one()
    key = topic_key(turn.topic)
    if not key:
        return None
    at = turn.teach_ends_at or now
    row = _locked_card(turn.teacher_id, key, turn.topic, at)
    card = rules.CardState(*row[1:])
    topic = turn.topic
    if card.reviews and at <= card.last_review_at:
        # An older explanation rated late: replay the topic's ratings in order.
        mine = _reviews(Turn.teacher_id == turn.teacher_id, Turn.topic_key == key)
        state = rules.replay(((r.at, r.simplicity) for r in mine), retention())
        topic = mine[-1].topic
    else:
        before = card if card.reviews else None
        state = rules.review(before, simplicity, at, retention())
    db.session.execute(
        _SAVE,
        {"card_id": row.id, **_columns(state), "topic": topic, "updated_at": now},
    )
    return state


def rebuild(user_id: int | None = None, now: datetime | None = None) -> int:
    """Recompute every card (or one student's) from the ratings, in time
    order, replacing what was stored. Commits; returns the cards written."""
    now = now or utcnow()
    where = [] if user_id is None else [Turn.teacher_id == user_id]
    stale = delete(TopicCard)
    if user_id is not None:
        stale = stale.where(TopicCard.user_id == user_id)
    db.session.execute(stale)
    aim, rows = retention(), []
    history = _reviews(*where)
    for (teacher, key), group in groupby(history, lambda r: (r.teacher_id, r.key)):
        mine = list(group)
        state = rules.replay(((r.at, r.simplicity) for r in mine), aim)
        rows.append(
            {
                "user_id": teacher,
                "topic_key": key,
                "topic": mine[-1].topic,
                **_columns(state),
                "updated_at": now,
            }
        )
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(TopicCard), rows[start : start + CHUNK])
    db.session.commit()
    return len(rows)


@dataclass(frozen=True)
class CardView:
    """A card as pages and the API show it."""

    key: str
    topic: str
    due_at: datetime
    last_review_at: datetime | None
    stability_days: float | None
    retrievability: float
    reviews: int
    due: bool


def _view(card: TopicCard, now: datetime, aim: float) -> CardView:
    state = _state(card)
    return CardView(
        key=card.topic_key,
        topic=card.topic,
        due_at=card.due_at,
        last_review_at=card.last_review_at,
        stability_days=card.stability,
        retrievability=rules.retrievability(state, now, aim),
        reviews=card.reviews,
        due=rules.is_due(state, now),
    )


def cards(user_id: int, now: datetime) -> list[CardView]:
    """The student's cards, the soonest due first."""
    aim = retention()
    rows = db.session.scalars(
        select(TopicCard)
        .where(TopicCard.user_id == user_id)
        .order_by(TopicCard.due_at, TopicCard.topic_key)
    )
    return [_view(card, now, aim) for card in rows]


def due(user_id: int, now: datetime) -> list[CardView]:
    """The student's topics due to be taught again, most overdue first."""
    aim = retention()
    rows = db.session.scalars(
        select(TopicCard)
        .where(TopicCard.user_id == user_id, TopicCard.due_at <= now)
        .order_by(TopicCard.due_at, TopicCard.topic_key)
    )
    return [_view(card, now, aim) for card in rows]


def by_key(views: Iterable[CardView]) -> dict[str, CardView]:
    """Cards by topic key, to join with topics or review rows."""
    return {view.key: view for view in views}


def topic_reviews(user_id: int, key: str) -> list[Review]:
    """The rated explanations of one of the student's topics, in time order."""
    return _reviews(Turn.teacher_id == user_id, Turn.topic_key == key)


def curve(reviews: list[Review], now: datetime) -> list[tuple[datetime, float]]:
    """Retrievability of a topic from its first rating until now (or its due
    date, if later): what the topic view plots."""
    history = [(r.at, r.simplicity) for r in reviews]
    return rules.curve(history, now, retention())


def _schedule(view: CardView | None) -> dict:
    """The schedule fields of the API (§11): null until first rated."""
    return {
        "due_at": view.due_at if view else None,
        "stability_days": view.stability_days if view else None,
        "retrievability": view.retrievability if view else None,
        "reviews": view.reviews if view else 0,
    }


def topics_with_schedule(user_id: int, now: datetime) -> list[dict]:
    """The student's topics (their usual order), each with its schedule."""
    mine = by_key(cards(user_id, now))
    return [
        {
            "id": t.id,
            "title": t.title,
            "subject": t.subject,
            "created_at": t.created_at,
            **_schedule(mine.get(topic_key(t.title))),
        }
        for t in list_topics(user_id)
    ]


def due_topics(user_id: int, now: datetime) -> list[dict]:
    """Topics due to be taught again, most overdue first, with the student's
    topic id when the topic is on their list (else null)."""
    ids = {topic_key(t.title): t.id for t in list_topics(user_id)}
    return [
        {
            "topic_id": ids.get(view.key),
            "title": view.topic,
            "key": view.key,
            "last_review_at": view.last_review_at,
            **_schedule(view),
        }
        for view in due(user_id, now)
    ]
