"""One session told turn by turn: topic, rating, note, jargon, summary, signals,
sketch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from ..domain.vocabulary import SIGNAL_KINDS
from ..extensions import db
from ..models import Rating, Signal, TeachSession, Turn, User
from .room import strokes_of
from .schedule import get_session, plan_of


@dataclass(frozen=True)
class SignalItem:
    """One listener reaction, placed in its turn."""

    kind: str
    word: str | None
    at: datetime
    offset_ms: int
    question: str | None = None  # with why and how


@dataclass(frozen=True)
class TurnReport:
    """One explanation and everything said about it."""

    id: int | None  # the turn row's id (None until the turn has one)
    index: int
    teacher_id: int | None
    teacher_name: str
    listener_id: int | None
    listener_name: str
    topic: str | None
    started_at: datetime | None
    teach_ends_at: datetime | None
    ended_at: datetime | None
    simplicity: int | None
    note: str
    jargon: list[str]
    rated_at: datetime | None
    summary: str | None
    self_simplicity: int | None
    signals: list[SignalItem] = field(default_factory=list)
    # The sketch pad's strokes since its last clear ([{points, width, color}]).
    sketch: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many signals of each kind."""
        tally = Counter(s.kind for s in self.signals)
        return {kind: tally.get(kind, 0) for kind in SIGNAL_KINDS}

    @property
    def taught(self) -> bool:
        """Whether this turn was taught at all."""
        return self.started_at is not None


@dataclass(frozen=True)
class SessionReport:
    """A session and its turns, as one of its partners sees it."""

    session: TeachSession
    viewer_id: int
    partner_name: str
    turns: list[TurnReport]


def report(user_id: int, session_id: int, with_sketch: bool = False) -> SessionReport:
    """The turn-by-turn report of one of the user's sessions (else NotFound);
    `with_sketch` adds each turn's strokes (the summary page draws them)."""
    session = get_session(user_id, session_id)
    rows = {
        t.index: t
        for t in db.session.scalars(select(Turn).where(Turn.session_id == session.id))
    }
    ratings = {
        r.turn_id: r
        for r in db.session.scalars(
            select(Rating).where(Rating.session_id == session.id)
        )
    }
    signals: dict[int, list[SignalItem]] = {}
    for s in db.session.scalars(
        select(Signal).where(Signal.session_id == session.id).order_by(Signal.at)
    ):
        signals.setdefault(s.turn_id, []).append(
            SignalItem(s.kind, s.word, s.at, s.offset_ms, s.question)
        )
    sketches = strokes_of([row.id for row in rows.values()]) if with_sketch else {}
    names = dict(
        db.session.execute(
            select(User.id, User.display_name).where(User.id.in_(session.member_ids()))
        ).all()
    )
    turns = []
    for planned in plan_of(session):
        row = rows.get(planned["index"])
        rating = ratings.get(row.id) if row else None
        turns.append(
            TurnReport(
                id=row.id if row else None,
                index=planned["index"],
                teacher_id=planned["teacher_id"],
                teacher_name=names.get(planned["teacher_id"], "a former member"),
                listener_id=planned["listener_id"],
                listener_name=names.get(planned["listener_id"], "a former member"),
                topic=row.topic if row else None,
                started_at=row.started_at if row else None,
                teach_ends_at=row.teach_ends_at if row else None,
                ended_at=row.ended_at if row else None,
                simplicity=rating.simplicity if rating else None,
                note=rating.note if rating else "",
                jargon=list(rating.jargon or []) if rating else [],
                rated_at=rating.created_at if rating else None,
                summary=row.summary if row else None,
                self_simplicity=row.self_simplicity if row else None,
                signals=signals.get(row.id, []) if row else [],
                sketch=sketches.get(row.id, []) if row else [],
            )
        )
    partner_id = next((i for i in session.member_ids() if i != user_id), None)
    return SessionReport(
        session=session,
        viewer_id=user_id,
        partner_name=names.get(partner_id, "a former member"),
        turns=turns,
    )
