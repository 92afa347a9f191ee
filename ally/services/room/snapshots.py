"""The room's snapshot (DESIGN.md §6) and pushing it to the session's room."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import aliased

from ...domain import room as rules
from ...domain.vocabulary import Phase, Status
from ...extensions import db
from ...models import Partnership, Rating, Signal, TeachSession, Turn, User
from ...push import SESSION_STATE, between_pushes, emit_to_session
from ..schedule import plan_of
from .kept_facts import kept_facts
from .presence import online_by_session


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return value.isoformat() if value is not None else None


def snapshot(session: TeachSession, now: datetime) -> dict[str, Any]:
    """The full state of a session's room, as every client receives it."""
    return snapshots([session.id], now)[session.id]


@cache
def _statements() -> tuple[Select, Select, Select]:
    """The snapshot's queries, built once: building them (aliases, columns,
    cache keys) cost more than running them."""
    S, ids = TeachSession, bindparam("ids", expanding=True)
    first, second = aliased(User), aliased(User)
    sessions = (
        select(
            S.id,
            S.status,
            S.phase,
            S.current_turn,
            S.starts_at,
            S.phase_ends_at,
            S.version,
            S.turns,
            S.teach_seconds,
            S.rate_seconds,
            S.first_teacher_id,
            S.second_teacher_id,
            Partnership.meeting_url,
            first.display_name.label("first_name"),
            second.display_name.label("second_name"),
        )
        .outerjoin(Partnership, Partnership.id == S.partnership_id)
        .outerjoin(first, first.id == S.first_teacher_id)
        .outerjoin(second, second.id == S.second_teacher_id)
        .where(S.id.in_(ids))
    )
    turns = (
        select(
            Turn.id,
            Turn.session_id,
            Turn.index,
            Turn.topic,
            Turn.started_at,
            Turn.teach_ends_at,
            Turn.rating_ends_at,
            Turn.ended_at,
            Turn.summary,
            Turn.self_simplicity,
            Turn.teacher_ready_at,
            Turn.predicted_simplicity,
            Turn.sketch_points,
            Rating.simplicity,
        )
        .outerjoin(Rating, Rating.turn_id == Turn.id)
        .where(Turn.session_id.in_(ids))
    )
    counts = (
        select(Signal.turn_id, Signal.kind, func.count())
        .where(Signal.session_id.in_(ids))
        .group_by(Signal.turn_id, Signal.kind)
    )
    return sessions, turns, counts


def snapshots(session_ids: list[int], now: datetime) -> dict[int, dict[str, Any]]:
    """Snapshots of many sessions in four queries (by session id).

    Plain rows, not ORM objects: the joins and the deadline job build one for
    every room that changes, and loading entities cost more than the queries.
    """
    if not session_ids:
        return {}
    sessions_query, turns_query, counts_query = _statements()
    ids = {"ids": list(session_ids)}
    sessions = db.session.execute(sessions_query, ids).all()
    rows: dict[int, dict[int, Any]] = defaultdict(dict)
    for turn in db.session.execute(turns_query, ids):
        rows[turn.session_id][turn.index] = turn
    counts: dict[int, dict[str, int]] = {}
    for turn_id, kind, n in db.session.execute(counts_query, ids):
        counts.setdefault(turn_id, {})[kind] = n
    online = online_by_session(session_ids)
    return {
        session.id: _one(session, now, rows[session.id], counts, online)
        for session in sessions
    }


def _one(session, now, rows, counts, online) -> dict[str, Any]:
    here = online.get(session.id, set())
    rate_for = timedelta(seconds=session.rate_seconds)
    turns = []
    for planned in plan_of(session):
        row = rows.get(planned["index"])
        teaching_over = row is not None and (
            planned["index"] < session.current_turn or session.phase != Phase.TEACHING
        )
        turns.append(
            {
                # Additive (DESIGN §11): the id a re-check takes; None until
                # the turn has a row.
                "id": row.id if row else None,
                "index": planned["index"],
                "teacher_id": planned["teacher_id"],
                "listener_id": planned["listener_id"],
                "topic": row.topic if row else None,
                "started_at": iso(row.started_at) if row else None,
                "teach_ends_at": iso(row.teach_ends_at) if row else None,
                "rating_ends_at": iso(row.rating_ends_at) if row else None,
                "ended_at": iso(row.ended_at) if row else None,
                "simplicity": row.simplicity if row else None,
                "summary": row.summary if row else None,
                # Additive: the teacher's own rating, shown once the turn is
                # over so it cannot sway the listener's.
                "self_simplicity": (
                    row.self_simplicity if row and row.ended_at else None
                ),
                # Additive: signals so far by kind (a reconnecting page's tally).
                "signals": counts.get(row.id, {}) if row else {},
                # Additive, the pause that waits for both: has the listener
                # rated, has the teacher said ready (or rated themselves), and
                # until when may the teacher still write a summary.
                "rated": bool(row and row.simplicity is not None),
                "teacher_ready": bool(row and row.teacher_ready_at is not None),
                # Additive (§11): the teacher said how simply they could
                # explain it (the value stays theirs), and points drawn.
                "predicted": bool(row and row.predicted_simplicity is not None),
                "sketch_points": row.sketch_points if row else 0,
                "reflection_ends_at": (
                    iso(row.teach_ends_at + rate_for)
                    if teaching_over and row.teach_ends_at is not None
                    else None
                ),
            }
        )
    names = {
        session.first_teacher_id: session.first_name,
        session.second_teacher_id: session.second_name,
    }
    members = [
        uid
        for uid in (session.first_teacher_id, session.second_teacher_id)
        if uid is not None
    ]
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
            for uid in members
        ],
        "turns": turns,
        # Additive fields.
        "version": session.version,
        "turns_total": session.turns,
        "teach_seconds": session.teach_seconds,
        "rate_seconds": session.rate_seconds,
        "meeting_url": session.meeting_url,
        # Who the pause still waits for (rating phase), and the turn each
        # participant may name a topic for now (None: none).
        "reflecting": _reflecting(session, turns),
        "topic_turns": {
            str(uid): rules.topic_turn(
                rules.room_of(session),
                session.first_teacher_id,
                session.second_teacher_id,
                uid,
            )
            for uid in members
        },
    }


def _reflecting(session, turns: list[dict[str, Any]]) -> list[int]:
    """In a rating pause: the listener until they rated, the teacher until ready."""
    if session.status != Status.LIVE or session.phase != Phase.RATING:
        return []
    current = turns[session.current_turn]
    waiting = []
    if not current["teacher_ready"] and current["teacher_id"] is not None:
        waiting.append(current["teacher_id"])
    if not current["rated"] and current["listener_id"] is not None:
        waiting.append(current["listener_id"])
    return waiting


def publish(session_id: int, now: datetime) -> dict[str, Any] | None:
    """Push the current snapshot to everyone in the session's room."""
    return publish_many([session_id], now).get(session_id)


def publish_many(session_ids: list[int], now: datetime) -> dict[int, dict[str, Any]]:
    """Push the snapshots of many sessions, each to its own room."""
    kept_facts().forget_sessions(session_ids)  # the rooms changed
    states = snapshots(session_ids, now)
    for session_id, state in states.items():
        emit_to_session(session_id, SESSION_STATE, state)
        if len(states) > 1:
            between_pushes(len(states))  # many rooms at once: keep sockets served
    return states
