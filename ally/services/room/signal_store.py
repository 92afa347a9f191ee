"""The storage behind `signal`: a fast read and a batch sink (group commit).

A `signal` arrives many times a minute from every room, so its storage does
not go through the ORM unit of work. `read_facts` answers, in one statement on
a connection kept for it, everything the checks need (the socket's user and
login version, the session, its current turn). `store` queues the row and
returns once the batch holding it is committed: rows that arrive within
ALLY_SIGNAL_FLUSH_MS share one transaction, so a listener's ack is a promise
that survives a crash. A row the database refuses is retried alone and only
its sender hears of it. Measured in docs/performance.md ("Decisions"): a
signal as its own ORM transaction cost ~1 ms of CPU, the whole batched hot
path 0.33 ms.
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

from ...database import write_gate
from ...extensions import db, socketio
from ...models import LiveSocket, Signal, TeachSession, Turn, User
from ...offload import blocking
from ..errors import NotStored
from .driver_sql import DriverStatement


class Facts(NamedTuple):
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


_LINES_KEY = "ally.signal_store"
# How long past the flush interval a sender waits before writing itself.
ACK_WAIT_SECONDS = 5.0

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
    columns = (
        "session_id",
        "turn_id",
        "user_id",
        "kind",
        "word",
        "question",
        "at",
        "offset_ms",
    )
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
        self.pending = _Batch()
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


def read_facts(sid: str, session_id: int) -> Facts | None:
    """What the socket, its user, the session and its current turn say now,
    in one statement on this path's own reading connection."""
    lines = _lines()
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
    return Facts(*row) if row is not None else None


def store(values: dict[str, Any]) -> None:
    """Queue the row, and return once its batch is committed (group commit).

    Raises NotStored when the database refused it; the rest of its batch is
    stored all the same.
    """
    lines = _lines()
    batch, position = _queue(lines, values)
    _await_commit(batch, position, lines)


# --- the queue: group commit ------------------------------------------------


class _Batch:
    """Rows written in one transaction; each sender waits for `done`."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        # The server's own kind of event: a gevent Event under gevent.
        self.done = socketio.server.eio.create_event()
        # Positions of rows that could not be stored (their senders are told).
        self.failed: set[int] = set()


def _queue(lines: _Lines, values: dict[str, Any]) -> tuple[_Batch, int]:
    """Add a row to the open batch; the first row of a quiet spell starts the
    flusher. Returns the batch and the row's place in it."""
    with lines.pending_lock:
        batch = lines.pending
        batch.rows.append(values)
        position = len(batch.rows) - 1  # under the lock: another may append
        start = not lines.flusher_running
        lines.flusher_running = True
    if start:
        socketio.start_background_task(_flusher, lines)
    return batch, position


def _await_commit(batch: _Batch, position: int, lines: _Lines) -> None:
    """Return once the row is committed; raise if it could not be stored."""
    # The flusher writes within flush_seconds; the bound only guards against a
    # flusher that died (its senders must not hang for ever).
    if not batch.done.wait(lines.flush_seconds + ACK_WAIT_SECONDS):
        _write_pending(lines, stop_when_empty=False)
    if not batch.done.is_set() or position in batch.failed:
        raise NotStored("The signal could not be stored; send it again.")


def _flusher(lines: _Lines) -> None:
    """Write what was queued every flush_seconds; stop when nothing came."""
    while True:
        socketio.sleep(lines.flush_seconds)
        if not _write_pending(lines, stop_when_empty=True):
            return


def flush() -> None:
    """Commit every signal this app has queued (call with no transaction open)."""
    lines = current_app.extensions.get(_LINES_KEY)
    if lines is not None and lines.pending.rows:
        _write_pending(lines, stop_when_empty=False)


def _write_pending(lines: _Lines, *, stop_when_empty: bool) -> bool:
    """Write the open batch in one transaction; False if it was empty."""
    # The writer's lock first, then the batch: batches are stored in order, and
    # a flush() returns only once everything queued before it is committed.
    with lines.writer.lock:
        with lines.pending_lock:
            batch, lines.pending = lines.pending, _Batch()
            if not batch.rows and stop_when_empty:
                lines.flusher_running = False
        try:
            if batch.rows:
                batch.failed = _write(lines, batch.rows)
        finally:
            batch.done.set()  # senders wake whatever happened (failed is set)
    return bool(batch.rows)


def _write(lines: _Lines, batch: list[dict[str, Any]]) -> set[int]:
    """Insert the rows in one transaction, else each alone; the ones that failed.

    One row the database refuses never takes the others with it: the batch is
    retried row by row, and only that row's sender hears it was not stored.
    """
    rows = [lines.insert.parameters(values) for values in batch]
    for attempt in (1, 2):
        connection = lines.writer.open(lines.engine)
        try:
            with write_gate(lines.engine):
                # The driver's work runs off the event loop under gevent (it
                # releases the GIL): a batch is ~4 ms that every socket would
                # otherwise wait out (docs/performance.md).
                failed = blocking(_store, connection, lines.insert.sql, rows)
            if failed:
                log.warning(
                    "%d of %d signals could not be stored", len(failed), len(rows)
                )
            return failed
        except Exception:  # noqa: BLE001 - logged; the room must keep going
            lines.writer.discard()  # a broken connection: the next try opens one
            if attempt == 2:
                log.exception("%d signals could not be stored", len(rows))
    return set(range(len(rows)))


def _store(connection: Any, sql: str, rows: list) -> set[int]:
    """Insert the rows in one transaction, else each alone; positions that failed.

    Any refusal counts (a constraint, a value the driver cannot encode): the
    row is left out and the rest stored. A broken connection raises from the
    rollback and the caller retries on a new one. Runs on a thread of its own
    under gevent: nothing here may log or take a (cooperative) lock.
    """
    try:
        connection.cursor().executemany(sql, rows)
        connection.commit()
        return set()
    except Exception:  # noqa: BLE001 - retried row by row below
        connection.rollback()
    failed = set()
    for position, parameters in enumerate(rows):
        try:
            connection.cursor().execute(sql, parameters)
            connection.commit()
        except Exception:  # noqa: BLE001 - this row's sender is told
            connection.rollback()
            failed.add(position)
    return failed
