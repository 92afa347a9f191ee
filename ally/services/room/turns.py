"""Turn rows: what each transition of the room means for the turns it touches."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, case, func, or_, select, update

from ...domain.review import topic_key
from ...domain.room import Step
from ...extensions import db
from ...models import SessionParticipant, Signal, TeachSession, Turn
from ..schedule import plan_of
from ..sql import insert_ignoring_conflicts


def ensure_turn(session: TeachSession, index: int) -> Turn | None:
    """The turn row `index` of a session, created from its plan if missing."""
    existing = db.session.scalar(
        select(Turn)
        .where(Turn.session_id == session.id, Turn.index == index)
        .execution_options(populate_existing=True)
    )
    if existing is not None:
        return existing  # the usual case, once the turn has started
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


_T = Turn.__table__
_THIS_TURN = (
    _T.c.session_id == bindparam("b_sid"),
    _T.c["index"] == bindparam("b_idx"),
)
_NO_TOPIC = or_(_T.c.topic.is_(None), _T.c.topic == "")
# One statement per kind of step, run with many parameter sets (executemany).
_STARTED = (
    update(_T)
    .where(*_THIS_TURN)
    .values(
        started_at=bindparam("b_at"),
        teach_ends_at=bindparam("b_until"),
        # The topic each partner prepared before the session, if none was set.
        topic=case((_NO_TOPIC, bindparam("b_topic")), else_=_T.c.topic),
        topic_key=case((_NO_TOPIC, bindparam("b_key")), else_=_T.c.topic_key),
    )
)
_TEACHING_ENDED = (
    update(_T)
    .where(*_THIS_TURN)
    .values(teach_ends_at=bindparam("b_at"), rating_ends_at=bindparam("b_until"))
)
_RATING_ENDED = (
    update(_T)
    .where(*_THIS_TURN)
    .values(
        rating_ends_at=bindparam("b_at"),
        ended_at=bindparam("b_at"),
        # Jargon signals of the turn, counted once it is over (correlated).
        jargon_flags=select(func.count())
        .where(Signal.turn_id == _T.c.id, Signal.kind == "jargon")
        .scalar_subquery(),
    )
)


def record_steps(session: TeachSession, steps: list[Step]) -> None:
    """Write the instants of each step onto its turn (in the caller's transaction)."""
    record_many([(session, steps)])


def record_many(moved: list[tuple[TeachSession, list[Step]]]) -> None:
    """record_steps for many sessions at once: a few statements in all."""
    new_turns, started, teaching_ended, rating_ended = [], [], [], []
    for session, steps in moved:
        plan = plan_of(session)
        teach = timedelta(seconds=session.teach_seconds)
        rate = timedelta(seconds=session.rate_seconds)
        for step in steps:
            key = {"b_sid": session.id, "b_idx": step.turn, "b_at": step.at}
            if step.kind == "teaching_started":
                if not 0 <= step.turn < len(plan):
                    continue
                teacher = plan[step.turn]["teacher_id"]
                if teacher is None:
                    continue  # its teacher deleted their account
                new_turns.append(
                    {
                        "session_id": session.id,
                        "index": step.turn,
                        "teacher_id": teacher,
                        "listener_id": plan[step.turn]["listener_id"],
                    }
                )
                started.append({**key, "b_until": step.at + teach, "teacher": teacher})
            elif step.kind == "teaching_ended":
                teaching_ended.append({**key, "b_until": step.at + rate})
            elif step.kind == "rating_ended":
                rating_ended.append(key)
    if new_turns:
        db.session.execute(
            insert_ignoring_conflicts(_T, ["session_id", "index"]), new_turns
        )
        planned = {
            (session_id, user_id): topic
            for session_id, user_id, topic in db.session.execute(
                select(
                    SessionParticipant.session_id,
                    SessionParticipant.user_id,
                    SessionParticipant.planned_topic,
                ).where(
                    SessionParticipant.session_id.in_({r["b_sid"] for r in started})
                )
            )
        }
        params = []
        for row in started:
            teacher = row.pop("teacher")
            # A prepared topic is the teacher's first turn's; a later turn is
            # named anew (the room asks), never silently the same again.
            first_turn = row["b_idx"] < 2
            topic = planned.get((row["b_sid"], teacher)) if first_turn else None
            params.append({**row, "b_topic": topic, "b_key": topic_key(topic) or None})
        db.session.execute(_STARTED, params)
    if teaching_ended:
        db.session.execute(_TEACHING_ENDED, teaching_ended)
    if rating_ended:
        db.session.execute(_RATING_ENDED, rating_ended)
