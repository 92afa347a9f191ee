"""The live room: turns, listener signals, ratings, and the sockets present."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow


class Turn(db.Model):
    """One explanation in a session: who teaches, the topic, phase instants."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("session_id", "index"),
        Index("ix_turns_teacher_topic", "teacher_id", "topic_key"),
        # A student's explanations, newest first, a page at a time.
        Index("ix_turns_teacher_started", "teacher_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("teach_sessions.id", ondelete="CASCADE")
    )
    index: Mapped[int] = mapped_column(Integer)
    # A deleted teacher's explanations (and the ratings they received) go with
    # them; a deleted listener's ratings stay, without a name.
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    listener_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    topic: Mapped[str | None] = mapped_column(String(120))
    # The topic with case and spacing folded: reviews group turns by it.
    topic_key: Mapped[str | None] = mapped_column(String(120))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The teaching deadline while teaching, then when teaching really ended.
    teach_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The rating deadline while rating, then when rating really ended.
    rating_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str | None] = mapped_column(String(600))
    summary_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    self_simplicity: Mapped[int | None] = mapped_column(Integer)
    self_rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the teacher was done reflecting (said `ready` or rated themselves):
    # the rating pause waits for this and the listener's rating.
    teacher_ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Jargon signals the listener sent during this turn (counted when it ends).
    jargon_flags: Mapped[int] = mapped_column(Integer, default=0)
    # Before teaching: "how simply can you explain this now?" (1-5, `predict`).
    predicted_simplicity: Mapped[int | None] = mapped_column(Integer)
    predicted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 12 hours to 7 days later, the teacher's delayed re-check (1-5), once.
    recheck_simplicity: Mapped[int | None] = mapped_column(Integer)
    rechecked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recheck_invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Points drawn on the sketch pad this turn (bounded per turn).
    sketch_points: Mapped[int] = mapped_column(Integer, default=0)

    rating: Mapped[Rating | None] = relationship(
        back_populates="turn", uselist=False, viewonly=True
    )


class Signal(db.Model):
    """A live listener reaction during a turn, kept with its offset in the turn."""

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_turn_at", "turn_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("teach_sessions.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(10))  # jargon, lost, slower, clear
    word: Mapped[str | None] = mapped_column(String(40))
    # The listener's question with a `why` or `how` signal.
    question: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    offset_ms: Mapped[int] = mapped_column(Integer)


class Rating(db.Model):
    """The listener's verdict on one turn: simplicity 1–5, a note, jargon words."""

    __tablename__ = "ratings"
    __table_args__ = (
        # Ratings received or given, newest first, a page at a time.
        Index("ix_ratings_teacher_created", "teacher_id", "created_at"),
        Index("ix_ratings_rater_created", "rater_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(
        ForeignKey("turns.id", ondelete="CASCADE"), unique=True
    )
    session_id: Mapped[int] = mapped_column(
        ForeignKey("teach_sessions.id", ondelete="CASCADE"), index=True
    )
    rater_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    simplicity: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(1000), default="")
    jargon: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    turn: Mapped[Turn] = relationship(back_populates="rating")


class LiveSocket(db.Model):
    """An open Socket.IO connection: whose, which server, which room it is in.

    Shared through the database so every web process sees who is present, and
    so a logout can reach a user's sockets on any process.
    """

    __tablename__ = "live_sockets"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    instance: Mapped[str] = mapped_column(String(100), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("teach_sessions.id", ondelete="CASCADE"), index=True
    )
    auth_version: Mapped[int] = mapped_column(Integer)
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The login (cookie) or API token that opened it: ending that one closes it.
    login_id: Mapped[int | None] = mapped_column(
        ForeignKey("logins.id", ondelete="SET NULL"), index=True
    )
    api_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL"), index=True
    )


class ServerInstance(db.Model):
    """A running server process and its last heartbeat.

    One that has been silent too long is dead: its sockets are forgotten and
    their rooms told, by whichever process notices first.
    """

    __tablename__ = "server_instances"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Sketch(db.Model):
    """One `sketch` message of a turn: strokes drawn from memory, or a clear."""

    __tablename__ = "sketches"
    __table_args__ = (Index("ix_sketches_turn_id_id", "turn_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(
        ForeignKey("teach_sessions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # [{points: [[x, y], ...], width?, color?}], coordinates 0-1000.
    strokes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    points: Mapped[int] = mapped_column(Integer, default=0)
    clear: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
