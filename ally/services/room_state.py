"""The room's snapshot (DESIGN.md §6) and pushing it to the session's room."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Rating, Signal, TeachSession, Turn, User
from ..realtime.emit import emit_to_session, let_others_run
from . import presence
from .schedule import plan_of


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return value.isoformat() if value is not None else None


def snapshot(session: TeachSession, now: datetime) -> dict[str, Any]:
    """The full state of a session's room, as every client receives it."""
    return snapshots([session.id], now)[session.id]


def snapshots(session_ids: list[int], now: datetime) -> dict[int, dict[str, Any]]:
    """Snapshots of many sessions in a fixed number of queries (by session id)."""
    if not session_ids:
        return {}
    sessions = db.session.scalars(
        select(TeachSession)
        .where(TeachSession.id.in_(session_ids))
        .options(selectinload(TeachSession.partnership))
    ).all()
    rows: dict[int, dict[int, Turn]] = defaultdict(dict)
    for turn in db.session.scalars(
        select(Turn).where(Turn.session_id.in_(session_ids))
    ):
        rows[turn.session_id][turn.index] = turn
    ratings = dict(
        db.session.execute(
            select(Rating.turn_id, Rating.simplicity).where(
                Rating.session_id.in_(session_ids)
            )
        ).all()
    )
    counts: dict[int, dict[str, int]] = {}
    for turn_id, kind, n in db.session.execute(
        select(Signal.turn_id, Signal.kind, func.count())
        .where(Signal.session_id.in_(session_ids))
        .group_by(Signal.turn_id, Signal.kind)
    ):
        counts.setdefault(turn_id, {})[kind] = n
    members = {m for session in sessions for m in session.member_ids()}
    names = dict(
        db.session.execute(
            select(User.id, User.display_name).where(User.id.in_(members))
        ).all()
    )
    online = presence.online_by_session(session_ids)
    return {
        session.id: _one(session, now, rows[session.id], ratings, counts, names, online)
        for session in sessions
    }


def _one(session, now, rows, ratings, counts, names, online) -> dict[str, Any]:
    here = online.get(session.id, set())
    turns = []
    for planned in plan_of(session):
        row = rows.get(planned["index"])
        turns.append(
            {
                "index": planned["index"],
                "teacher_id": planned["teacher_id"],
                "listener_id": planned["listener_id"],
                "topic": row.topic if row else None,
                "started_at": iso(row.started_at) if row else None,
                "teach_ends_at": iso(row.teach_ends_at) if row else None,
                "rating_ends_at": iso(row.rating_ends_at) if row else None,
                "ended_at": iso(row.ended_at) if row else None,
                "simplicity": ratings.get(row.id) if row else None,
                "summary": row.summary if row else None,
                # Additive: the teacher's own rating, shown once the turn is
                # over so it cannot sway the listener's.
                "self_simplicity": (
                    row.self_simplicity if row and row.ended_at else None
                ),
                # Additive: signals so far by kind (a reconnecting page's tally).
                "signals": counts.get(row.id, {}) if row else {},
            }
        )
    return {
        "session_id": session.id,
        "status": session.status,
        "phase": session.phase,
        "turn": session.current_turn,
        "server_time": iso(now),
        "starts_at": iso(session.starts_at),
        "phase_ends_at": iso(session.phase_ends_at),
        "participants": [
            {"user_id": uid, "display_name": names.get(uid), "online": uid in here}
            for uid in session.member_ids()
        ],
        "turns": turns,
        # Additive fields.
        "version": session.version,
        "turns_total": session.turns,
        "teach_seconds": session.teach_seconds,
        "rate_seconds": session.rate_seconds,
        "meeting_url": session.partnership.meeting_url,
    }


def publish(session_id: int, now: datetime) -> dict[str, Any] | None:
    """Push the current snapshot to everyone in the session's room."""
    return publish_many([session_id], now).get(session_id)


def publish_many(session_ids: list[int], now: datetime) -> dict[int, dict[str, Any]]:
    """Push the snapshots of many sessions, each to its own room."""
    states = snapshots(session_ids, now)
    for session_id, state in states.items():
        emit_to_session(session_id, "session_state", state)
        if len(states) > 1:
            let_others_run()  # many rooms at once: keep the sockets served
    return states
