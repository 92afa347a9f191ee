"""Rated explanations for the re-teach tests, rated through the room's service.

Each explanation is a live session written straight to the tables, already in
the rating phase of its first turn (teaching ended at `ended`); the listener
then rates it with `room.events.rate`, the code path a socket `rate` takes, so
the card is updated by the real hook in the rating's own transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from ally.domain.review import topic_key
from ally.extensions import db
from ally.models import SessionParticipant, TeachSession, Turn, User
from ally.services.room import events

TEACH = timedelta(minutes=8)
RATE = timedelta(minutes=10)


def live_turn(
    teacher: User,
    listener: User,
    partnership_id: int,
    topic: str | None,
    ended: datetime,
) -> TeachSession:
    """A live session whose first turn (taught by `teacher`) is being rated."""
    started = ended - TEACH
    session = TeachSession(
        partnership_id=partnership_id,
        scheduled_date=None,
        local_date=started.date(),
        kind="extra",
        starts_at=started,
        ends_at=started + timedelta(minutes=60),
        status="live",
        phase="rating",
        current_turn=0,
        phase_ends_at=ended + RATE,
        turns=2,
        teach_seconds=int(TEACH.total_seconds()),
        rate_seconds=int(RATE.total_seconds()),
        first_teacher_id=teacher.id,
        second_teacher_id=listener.id,
        started_at=started,
        created_at=started - timedelta(hours=1),
    )
    session.participants = [
        SessionParticipant(user_id=teacher.id, joined_at=started, absent=False),
        SessionParticipant(user_id=listener.id, joined_at=started, absent=False),
    ]
    db.session.add(session)
    db.session.flush()
    db.session.add(
        Turn(
            session_id=session.id,
            index=0,
            teacher_id=teacher.id,
            listener_id=listener.id,
            topic=topic,
            topic_key=topic_key(topic) or None,
            started_at=started,
            teach_ends_at=ended,
            rating_ends_at=ended + RATE,
        )
    )
    db.session.commit()
    return session


def rate(
    teacher: User,
    listener: User,
    partnership_id: int,
    topic: str | None,
    simplicity: int | None,
    ended: datetime,
) -> int:
    """One explanation of `topic` ending at `ended`, rated a minute later
    (left unrated when simplicity is None), in a session that then ends;
    returns the session id."""
    session = live_turn(teacher, listener, partnership_id, topic, ended)
    if simplicity is not None:
        ack = events.rate(
            listener.id, session.id, 0, simplicity, "", [], ended + timedelta(minutes=1)
        )
        assert ack, ack
    # The session then ends (the partnership may start another).
    db.session.execute(
        update(TeachSession)
        .where(TeachSession.id == session.id)
        .values(status="completed", phase="done", ended_at=ended + RATE)
    )
    db.session.commit()
    return session.id
