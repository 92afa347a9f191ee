"""The room's clock: phase deadlines and no-shows, applied by the scheduler.

The server owns the clock. Each job run loads the sessions whose deadline has
passed, lets `domain.room` decide what happened (replaying every deadline at
its own instant after downtime), and stores it with a compare-and-set on the
row's version, so a second scheduler, a racing `finish_turn` or a repeated run
changes nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import Update, bindparam, select, update

from ...domain import room as rules
from ...extensions import db
from ...models import SessionParticipant, TeachSession
from ...push import let_others_run, on_one_loop
from .signal_store import flush
from .snapshots import publish_many
from .turns import record_many, record_steps

CHUNK = 500
# Under gevent one event loop serves every socket: a chunk is one block of
# work nobody else can interrupt, so it is kept short (docs/performance.md).
CHUNK_ON_ONE_LOOP = 25


def room_of(session: TeachSession) -> rules.Room:
    """The domain state of a stored session."""
    return rules.room_of(session)


@cache
def _compare_and_set_statement(columns: tuple[str, ...]) -> Update:
    """UPDATE … WHERE id and version match, built once per set of columns
    (the deadline job runs it for every due room: building it each time cost
    more than running it)."""
    return (
        update(TeachSession)
        .where(
            TeachSession.id == bindparam("where_id"),
            TeachSession.version == bindparam("where_version"),
        )
        .values({column: bindparam(f"new_{column}") for column in columns})
        .execution_options(synchronize_session=False)
    )


def _compare_and_set(
    session: TeachSession, new: rules.Room, steps: list[rules.Step]
) -> bool:
    """Store the session's new state if nobody changed it since it was loaded."""
    values = {
        "status": new.status,
        "phase": new.phase,
        "current_turn": new.turn,
        "phase_ends_at": new.phase_ends_at,
        "version": session.version + 1,
    }
    for step in steps:
        if step.kind == "teaching_started" and step.turn == 0:
            values["started_at"] = step.at
        if step.kind in ("completed", "missed", "cancelled"):
            values["ended_at"] = step.at
    statement = _compare_and_set_statement(tuple(values))
    parameters = {f"new_{column}": value for column, value in values.items()}
    result = db.session.execute(
        statement,
        {"where_id": session.id, "where_version": session.version, **parameters},
    )
    if result.rowcount != 1:
        return False
    if any(step.kind == "missed" for step in steps):
        # Whoever never came in is recorded as absent (attendance is visible).
        db.session.execute(
            update(SessionParticipant)
            .where(
                SessionParticipant.session_id == session.id,
                SessionParticipant.joined_at.is_(None),
            )
            .values(absent=True)
        )
    return True


def save_room(session: TeachSession, new: rules.Room, steps: list[rules.Step]) -> bool:
    """Compare-and-set the session's state; False if someone else moved it first.

    The turns change in the same transaction, with the session or not at all.
    """
    if not _compare_and_set(session, new, steps):
        return False
    record_steps(session, steps)
    return True


def grace() -> timedelta:
    """How long after the start a partner may still arrive."""
    return timedelta(minutes=int(current_app.config["ALLY_NO_SHOW_MINUTES"]))


def counts_for_attendance(session: TeachSession) -> bool:
    """A scheduled meeting, or an extra one that someone joined: its no-show
    is `missed`; an extra session nobody ever joined ends `cancelled`."""
    if session.kind != "extra":
        return True
    return (
        db.session.scalar(
            select(SessionParticipant.user_id)
            .where(
                SessionParticipant.session_id == session.id,
                SessionParticipant.joined_at.is_not(None),
            )
            .limit(1)
        )
        is not None
    )


def _no_show_possible(session: TeachSession, now: datetime) -> bool:
    return (
        session.status in ("scheduled", "open")
        and session.phase == "waiting"
        and now >= session.starts_at + grace()
    )


def settle(session: TeachSession, now: datetime) -> tuple[rules.Room, list]:
    """The session's room with everything that fell due by now applied."""
    # The attendance question costs a query: asked only when it can matter.
    counts = not _no_show_possible(session, now) or counts_for_attendance(session)
    return rules.settle(room_of(session), now, grace(), counts=counts)


def advance_due(now: datetime) -> int:
    """Move every session whose phase deadline has passed; returns how many moved."""
    flush()  # a turn that ends counts its jargon signals
    due_ids = list(
        db.session.scalars(
            select(TeachSession.id)
            .where(
                TeachSession.phase_ends_at <= now,
                TeachSession.status.in_(("open", "live")),
            )
            .order_by(TeachSession.phase_ends_at)
        )
    )
    moved = 0
    chunk = CHUNK_ON_ONE_LOOP if on_one_loop() else CHUNK
    for start in range(0, len(due_ids), chunk):
        sessions = db.session.scalars(
            select(TeachSession)
            .where(TeachSession.id.in_(due_ids[start : start + chunk]))
            .execution_options(populate_existing=True)
        ).all()
        changed = []
        for session in sessions:
            new, steps = rules.advance(room_of(session), now)
            if steps and _compare_and_set(session, new, steps):
                changed.append((session, steps))
        # The turns of the whole chunk in a few statements, same transaction.
        record_many(changed)
        changed_ids = [session.id for session, _ in changed]  # before expiry
        db.session.commit()
        db.session.expire_all()
        publish_many(changed_ids, now)
        let_others_run()
        moved += len(changed)
    return moved


def mark_no_shows(now: datetime) -> int:
    """Sessions still waiting for someone after the grace time become missed
    (an extra session that nobody joined: cancelled)."""
    late = db.session.scalars(
        select(TeachSession)
        .where(
            TeachSession.status.in_(("scheduled", "open")),
            TeachSession.phase == "waiting",
            TeachSession.starts_at <= now - grace(),
        )
        .execution_options(populate_existing=True)
    ).all()
    missed: list[int] = []
    for session in late:
        new, steps = rules.no_show(
            room_of(session), now, grace(), counts=counts_for_attendance(session)
        )
        if not steps or not save_room(session, new, steps):
            continue  # both are there (teaching starts), or another process decided
        missed.append(session.id)
    db.session.commit()
    publish_many(missed, now)
    return len(missed)
