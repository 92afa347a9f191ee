"""Turn rows: what each transition of the room means for the turns it touches."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from ..domain.review import topic_key
from ..domain.room import Step
from ..extensions import db
from ..models import SessionParticipant, Signal, TeachSession, Turn
from .schedule import plan_of
from .sql import insert_ignoring_conflicts


def ensure_turn(session: TeachSession, index: int) -> Turn | None:
    """The turn row `index` of a session, created from its plan if missing."""
    plan = plan_of(session)
    if not 0 <= index < len(plan) or plan[index]["teacher_id"] is None:
        return None  # no such turn, or its teacher deleted their account
    db.session.execute(
        insert_ignoring_conflicts(Turn.__table__, ["session_id", "index"]).values(
            session_id=session.id,
            index=index,
            teacher_id=plan[index]["teacher_id"],
            listener_id=plan[index]["listener_id"],
        )
    )
    return db.session.scalar(
        select(Turn)
        .where(Turn.session_id == session.id, Turn.index == index)
        .execution_options(populate_existing=True)
    )


def _planned_topic(session_id: int, user_id: int) -> str | None:
    return db.session.scalar(
        select(SessionParticipant.planned_topic).where(
            SessionParticipant.session_id == session_id,
            SessionParticipant.user_id == user_id,
        )
    )


def record_steps(session: TeachSession, steps: list[Step]) -> None:
    """Write the instants of each step onto its turn (in the caller's transaction)."""
    teach = timedelta(seconds=session.teach_seconds)
    rate = timedelta(seconds=session.rate_seconds)
    for step in steps:
        where = (Turn.session_id == session.id, Turn.index == step.turn)
        if step.kind == "teaching_started":
            turn = ensure_turn(session, step.turn)
            if turn is None:
                continue
            values = {"started_at": step.at, "teach_ends_at": step.at + teach}
            if not turn.topic:
                # The topic each partner prepared before the session.
                planned = _planned_topic(session.id, turn.teacher_id)
                values["topic"] = planned
                values["topic_key"] = topic_key(planned) or None
            db.session.execute(update(Turn).where(*where).values(**values))
        elif step.kind == "teaching_ended":
            db.session.execute(
                update(Turn)
                .where(*where)
                .values(teach_ends_at=step.at, rating_ends_at=step.at + rate)
            )
        elif step.kind == "rating_ended":
            # Correlated with the turn being updated.
            jargon = (
                select(func.count())
                .where(Signal.turn_id == Turn.id, Signal.kind == "jargon")
                .scalar_subquery()
            )
            db.session.execute(
                update(Turn)
                .where(*where)
                .values(rating_ends_at=step.at, ended_at=step.at, jargon_flags=jargon)
            )
