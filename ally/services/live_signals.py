"""Listener signals on the room's hot path: one read, then acked and relayed.

A `signal` is the one event that arrives many times a minute from every room,
so it does not go through the ORM unit of work like the rest of the room
(`room.signal`, which this falls back to). One statement reads everything the
checks need — the socket's user and login version, the session, its current
turn — on a connection this process keeps for it; the checks are
`room.signal`'s own. An accepted signal is relayed and acknowledged at once and
its row is written with the others of the same ~50 ms in one transaction.

What an ack promises (docs/room.md): the signal was accepted and relayed,
and its row is committed within ALLY_SIGNAL_FLUSH_MS. Everything in this process that
reads signals or ends a turn flushes first (`flush()`: every other room event,
the clock job, every HTTP request), and so does a server that is stopped; only
a crash can lose the last ~50 ms of signals. Measured in docs/performance.md
("Live room"): storing each signal in its own transaction cost more CPU than
everything else the room does for it.

When a deadline has already passed (the clock job has not moved the room yet)
or the turn row is not there, the ORM path handles it: it applies the deadline
first and stores the signal in its own transaction, which is rare.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import Engine, and_, bindparam, event, insert, select
from sqlalchemy.pool import PoolProxiedConnection

from ..database import write_gate
from ..domain import room as rules
from ..extensions import db, socketio
from ..models import LiveSocket, Signal, TeachSession, Turn, User
from ..offload import blocking
from ..realtime.emit import emit_to_session
from . import presence, room
from .driver_sql import DriverStatement
from .errors import Forbidden, NotFound


class _Facts(NamedTuple):
    """What one row of the hot-path query says about a socket and a session."""

    user_id: int
    socket_auth_version: int
    user_auth_version: int
    session_id: int | None
    status: str | None
    phase: str | None
    current_turn: int | None
    phase_ends_at: datetime | None
    first_teacher_id: int | None
    second_teacher_id: int | None
    turn_id: int | None
    turn_started_at: datetime | None


_LINES_KEY = "ally.live_signals"

log = logging.getLogger(__name__)


@cache
def _facts_statement():
    """Socket, user, session and current turn in one SELECT (built once)."""
    return (
        select(
            LiveSocket.user_id,
            LiveSocket.auth_version,
            User.auth_version,
            TeachSession.id,
            TeachSession.status,
            TeachSession.phase,
            TeachSession.current_turn,
            TeachSession.phase_ends_at,
            TeachSession.first_teacher_id,
            TeachSession.second_teacher_id,
            Turn.id,
            Turn.started_at,
        )
        .select_from(LiveSocket)
        .join(User, User.id == LiveSocket.user_id)
        .outerjoin(TeachSession, TeachSession.id == bindparam("session_id"))
        .outerjoin(
            Turn,
            and_(
                Turn.session_id == TeachSession.id,
                Turn.index == TeachSession.current_turn,
            ),
        )
        .where(LiveSocket.sid == bindparam("sid"))
    )


@cache
def _insert_statement():
    """The signal row's INSERT (built once)."""
    columns = ("session_id", "turn_id", "user_id", "kind", "word", "at", "offset_ms")
    return insert(Signal).values({name: bindparam(name) for name in columns})


class _Kept:
    """One DB-API connection kept for this path, one caller at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connection: PoolProxiedConnection | None = None

    def open(self, engine: Engine) -> PoolProxiedConnection:
        """The kept connection, opened on first use or after a failure."""
        if self.connection is None:
            self.connection = engine.raw_connection()
        return self.connection

    def discard(self) -> None:
        """Drop a connection that failed; the next call opens a new one."""
        if self.connection is not None:
            self.connection.invalidate()
            self.connection = None

    def close(self) -> None:
        """Close the connection (its engine's pool is being disposed of)."""
        with self.lock:
            if self.connection is not None:
                self.connection.invalidate()  # closes the DB-API connection
                self.connection = None


class _Lines:
    """An app's signal path: a reading and a writing connection, the queue."""

    def __init__(self, engine: Engine, flush_seconds: float) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.reader = _Kept()
        self.writer = _Kept()
        self.facts = DriverStatement(_facts_statement(), engine.dialect)
        self.insert = DriverStatement(_insert_statement(), engine.dialect)
        self.pending: list[dict[str, Any]] = []
        self.pending_lock = threading.Lock()
        self.flusher_running = False

    def close(self, *_engine: object) -> None:
        """Give both connections back (the engine is being disposed of)."""
        self.reader.close()
        self.writer.close()


def _lines() -> _Lines:
    """The app's signal path, made on first use (it lives as long as the app)."""
    lines = current_app.extensions.get(_LINES_KEY)
    if lines is None:
        engine = db.engine
        every = current_app.config["ALLY_SIGNAL_FLUSH_MS"] / 1000
        lines = current_app.extensions.setdefault(_LINES_KEY, _Lines(engine, every))
        event.listen(engine, "engine_disposed", lines.close)
    return lines


def send(
    sid: str, session_id: Any, kind: Any, word: Any, now: datetime
) -> dict[str, Any]:
    """The listener's signal from socket `sid`: checked, relayed, queued, returned."""
    lines = _lines()
    # The same order of refusals as every other event: the login, then the id.
    usable_id = session_id if room.is_plausible_id(session_id) else 0
    row = _read_facts(lines, sid, usable_id)
    if row is None or row[1] != row[2]:
        raise Forbidden(presence.LOGIN_ENDED)
    room.check_session_id(session_id)
    accepted = _accept(_Facts(*row), session_id, kind, word, now)
    if accepted is None:
        # A deadline passed or the turn row is missing: the full path applies
        # the clock first (and refuses or stores exactly as it always has).
        return room.signal(row[0], session_id, kind, word, now)
    values, payload = accepted
    _queue(lines, values)
    emit_to_session(session_id, "signal", payload)
    return payload


def _read_facts(lines: _Lines, sid: str, session_id: int) -> tuple | None:
    """The hot-path row for this socket and session, on the reading connection."""
    with lines.reader.lock:
        connection = lines.reader.open(lines.engine)
        try:
            row = lines.facts.first(
                connection.cursor(), {"sid": sid, "session_id": session_id}
            )
            connection.rollback()  # end the read (PostgreSQL began a transaction)
        except BaseException:
            lines.reader.discard()  # a broken connection must not serve the next
            raise
    return row


def _accept(
    facts: _Facts, session_id: int, kind: Any, word: Any, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The row's values and the relayed payload, a refusal, or None (full path)."""
    members = (facts.first_teacher_id, facts.second_teacher_id)
    if facts.session_id is None or facts.user_id not in members:
        raise NotFound("No such session.")
    due = facts.phase_ends_at is not None and facts.phase_ends_at <= now
    if due or facts.turn_id is None or facts.turn_started_at is None:
        return None
    clean_word = room.check_signal(
        facts.user_id,
        kind,
        word,
        status=facts.status,
        phase=facts.phase,
        role=rules.role_of(
            facts.current_turn,
            facts.first_teacher_id,
            facts.second_teacher_id,
            facts.user_id,
        ),
    )
    return room.signal_record(
        session_id,
        facts.current_turn,
        facts.turn_id,
        facts.turn_started_at,
        facts.user_id,
        kind,
        clean_word,
        now,
    )


# --- the queue ---------------------------------------------------------------


def _queue(lines: _Lines, values: dict[str, Any]) -> None:
    """Add a row; the first row of a quiet spell starts the flusher."""
    with lines.pending_lock:
        lines.pending.append(values)
        start = not lines.flusher_running
        lines.flusher_running = True
    if start:
        socketio.start_background_task(_flusher, lines)


def _flusher(lines: _Lines) -> None:
    """Write what was queued every flush_seconds; stop when nothing came."""
    while True:
        socketio.sleep(lines.flush_seconds)
        if not _write_pending(lines, stop_when_empty=True):
            return


def flush() -> None:
    """Commit every signal this app has queued (call with no transaction open)."""
    lines = current_app.extensions.get(_LINES_KEY)
    if lines is not None and lines.pending:
        _write_pending(lines, stop_when_empty=False)


def _write_pending(lines: _Lines, *, stop_when_empty: bool) -> bool:
    """Write the queue in one transaction; False if it was empty."""
    # The writer's lock first, then the batch: batches are stored in order, and
    # a flush() returns only once everything queued before it is committed.
    with lines.writer.lock:
        with lines.pending_lock:
            batch, lines.pending = lines.pending, []
            if not batch and stop_when_empty:
                lines.flusher_running = False
        if batch:
            _write(lines, batch)
    return bool(batch)


def _write(lines: _Lines, batch: list[dict[str, Any]]) -> None:
    """Insert the rows in one transaction (one by one if some can no longer be)."""
    rows = [lines.insert.parameters(values) for values in batch]
    integrity_error = lines.engine.dialect.loaded_dbapi.IntegrityError
    for attempt in (1, 2):
        connection = lines.writer.open(lines.engine)
        try:
            with write_gate(lines.engine):
                # The driver's work runs off the event loop under gevent (it
                # releases the GIL): a batch is ~4 ms that every socket would
                # otherwise wait out (docs/performance.md).
                dropped = blocking(
                    _store, connection, lines.insert.sql, rows, integrity_error
                )
            if dropped:
                log.warning(
                    "dropped %d signals whose session or turn was deleted", dropped
                )
            return
        except Exception:  # noqa: BLE001 - logged; the room must keep going
            lines.writer.discard()
            if attempt == 2:
                log.exception("lost %d signals: they could not be stored", len(rows))


def _store(connection: Any, sql: str, rows: list, integrity_error: type) -> int:
    """Insert the rows in one transaction, else each alone; how many were dropped.

    Runs on a thread of its own under gevent: nothing here may log or take a
    (cooperative) lock.
    """
    try:
        connection.cursor().executemany(sql, rows)
        connection.commit()
        return 0
    except integrity_error:
        connection.rollback()
    dropped = 0
    for parameters in rows:
        try:
            connection.cursor().execute(sql, parameters)
            connection.commit()
        except integrity_error:
            connection.rollback()
            dropped += 1
    return dropped
