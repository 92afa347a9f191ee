"""The storage behind `signal` and `sketch`: a fast read and a batch sink
(group commit).

A `signal` arrives many times a minute from every room, and a drawing teacher
sends ten `sketch` messages a second, so their storage does not go through the
ORM unit of work. `read_facts` answers, in one statement on
a connection kept for it, everything the checks need (the socket's user and
login version, the session, its current turn). `store` queues the row and
returns once the batch holding it is committed: rows that arrive within
ALLY_SIGNAL_FLUSH_MS share one transaction, so a listener's ack is a promise
that survives a crash. A row the database refuses is retried alone and only
its sender hears of it. Measured in docs/performance.md ("Decisions"): a
signal as its own ORM transaction cost ~1 ms of CPU, the whole batched hot
path 0.33 ms. A sketch row counts its points against the turn's bound in the
same transaction (a conditional UPDATE), so the bound holds across processes.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import (
    Engine,
    and_,
    bindparam,
    event,
    false,
    insert,
    select,
    update,
)
from sqlalchemy.orm import aliased
from sqlalchemy.pool import PoolProxiedConnection

from ...database import write_gate
from ...domain.sketch import MAX_POINTS_PER_TURN
from ...extensions import db, socketio
from ...models import LiveSocket, Signal, Sketch, TeachSession, Turn, User
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
    turn_sketch_points: int | None
    # Whether another process holds a socket in the session's room: without
    # one, a relay to the room need not go through the message queue.
    room_elsewhere: bool


_LINES_KEY = "ally.signal_store"
# Kept reading connections per process on PostgreSQL (see _Lines).
READERS = 4
# How long past the flush interval a sender waits before writing itself.
ACK_WAIT_SECONDS = 5.0

log = logging.getLogger(__name__)


_elsewhere = aliased(LiveSocket, name="elsewhere")


@cache
def _facts_statement(shared: bool):
    """Socket, user, session and current turn in one SELECT (built once);
    `shared` (other processes hold sockets too): whether one of them holds a
    socket in the room. Alone, that answer is always no and is not asked."""
    elsewhere = (
        select(_elsewhere.sid)
        .where(
            _elsewhere.session_id == bindparam("session_id"),
            _elsewhere.instance != bindparam("instance"),
        )
        .exists()
        if shared
        else false()
    )
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
            Turn.sketch_points,
            elsewhere,
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


@cache
def _sketch_insert_statement():
    """The sketch row's INSERT (built once)."""
    columns = ("turn_id", "session_id", "user_id", "strokes", "points", "clear", "at")
    return insert(Sketch).values({name: bindparam(name) for name in columns})


@cache
def _sketch_count_statement():
    """Count a sketch's points on its turn, unless the turn would go over."""
    return (
        update(Turn)
        .where(
            Turn.id == bindparam("turn_id"),
            Turn.sketch_points + bindparam("points") <= bindparam("bound"),
        )
        .values(sketch_points=Turn.sketch_points + bindparam("points"))
    )


class _Kept:
    """One DB-API connection kept for this path, one caller at a time.

    A reading one on a server database runs in autocommit: each read is then
    one round trip, not a query and a rollback.
    """

    def __init__(self, *, reads: bool = False) -> None:
        self.lock = threading.Lock()
        self.connection: PoolProxiedConnection | None = None
        self.reads = reads
        self.autocommit = False

    def open(self, engine: Engine) -> PoolProxiedConnection:
        """The kept connection, opened on first use or after a failure."""
        if self.connection is None:
            self.connection = engine.raw_connection()
            self.autocommit = self.reads and engine.dialect.name == "postgresql"
            if self.autocommit:
                self.connection.driver_connection.autocommit = True
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

    def __init__(
        self, engine: Engine, flush_seconds: float, instance: str, shared: bool
    ) -> None:
        self.engine = engine
        self.instance = instance  # this process's name in live_sockets
        self.flush_seconds = flush_seconds
        # Reads on a server database wait for a round trip: several kept
        # connections let one process's reads overlap (SQLite answers at once).
        count = READERS if engine.dialect.name == "postgresql" else 1
        self.readers = [_Kept(reads=True) for _ in range(count)]
        self.writer = _Kept()
        self.facts = DriverStatement(_facts_statement(shared), engine.dialect)
        self.insert = DriverStatement(_insert_statement(), engine.dialect)
        self.sketch_insert = DriverStatement(_sketch_insert_statement(), engine.dialect)
        self.sketch_count = DriverStatement(_sketch_count_statement(), engine.dialect)
        self.next_reader = 0
        self.pending = _Batch()
        self.pending_lock = threading.Lock()
        # Sketch points queued but not yet committed, per turn id.
        self.queued_points: dict[int, int] = {}
        self.flusher_running = False

    def close(self, *_engine: object) -> None:
        """Give both connections back (the engine is being disposed of)."""
        for reader in self.readers:
            reader.close()
        self.writer.close()


def _lines() -> _Lines:
    """The app's signal path, made on first use (it lives as long as the app)."""
    lines = current_app.extensions.get(_LINES_KEY)
    if lines is None:
        engine = db.engine
        every = current_app.config["ALLY_SIGNAL_FLUSH_MS"] / 1000
        config = current_app.config
        shared = bool(config["SOCKETIO_MESSAGE_QUEUE"])
        lines = current_app.extensions.setdefault(
            _LINES_KEY, _Lines(engine, every, config["ALLY_INSTANCE"], shared)
        )
        event.listen(engine, "engine_disposed", lines.close)
    return lines


def read_facts(sid: str, session_id: int) -> Facts | None:
    """What the socket, its user, the session and its current turn say now,
    in one statement on this path's own reading connection."""
    lines = _lines()
    reader = _free_reader(lines)
    try:
        connection = reader.open(lines.engine)
        try:
            row = lines.facts.first(
                connection.cursor(),
                {"sid": sid, "session_id": session_id, "instance": lines.instance},
            )
            if not reader.autocommit:
                connection.rollback()  # end the read's transaction
        except BaseException:
            reader.discard()  # a broken connection must not serve the next
            raise
    finally:
        reader.lock.release()
    return Facts(*row[:-1], bool(row[-1])) if row is not None else None


def _free_reader(lines: _Lines) -> _Kept:
    """A reading connection's slot, locked: a free one, else wait for one."""
    for reader in lines.readers:
        if reader.lock.acquire(blocking=False):
            return reader
    lines.next_reader = (lines.next_reader + 1) % len(lines.readers)
    reader = lines.readers[lines.next_reader]
    reader.lock.acquire()
    return reader


def store(values: dict[str, Any]) -> None:
    """Queue the signal row, and return once its batch is committed (group
    commit).

    Raises NotStored when the database refused it; the rest of its batch is
    stored all the same.
    """
    lines = _lines()
    batch, position = _queue(lines, _Row(values))
    if _await_commit(batch, position, lines) is not None:
        raise NotStored("The signal could not be stored; send it again.")


def queue_sketch(values: dict[str, Any], committed_points: int) -> QueuedSketch:
    """Queue the sketch row; wait on the result for its commit.

    `committed_points` is the turn's count as last read; with the points this
    process has queued it refuses a turn over its bound at once (SketchFull),
    and the batch's conditional UPDATE makes the bound exact across processes.
    """
    lines = _lines()
    turn_id, points = values["turn_id"], values["points"]
    with lines.pending_lock:
        queued = lines.queued_points.get(turn_id, 0)
        total = committed_points + queued + points
        if total > MAX_POINTS_PER_TURN:
            raise SketchFull(MAX_POINTS_PER_TURN)
        lines.queued_points[turn_id] = queued + points
        batch, position = _queue_locked(lines, _Row(values, sketch=True))
    return QueuedSketch(lines, batch, position, total)


class QueuedSketch(NamedTuple):
    """A queued sketch row and the turn's points with it."""

    lines: _Lines
    batch: _Batch
    position: int
    total: int

    def wait(self) -> int:
        """Return the turn's points once the row is committed, else raise."""
        refused = _await_commit(self.batch, self.position, self.lines)
        if refused == FULL:
            raise SketchFull(MAX_POINTS_PER_TURN)
        if refused is not None:
            raise NotStored("The drawing could not be stored; draw it again.")
        return self.total


class SketchFull(Exception):
    """The turn's sketch would go over its points bound."""


# Why a queued row was not stored: its turn's sketch is full, or the database
# refused it.
FULL, REFUSED = "full", "refused"


class _Row(NamedTuple):
    """A queued row: a signal's values, or a sketch's."""

    values: dict[str, Any]
    sketch: bool = False


# --- the queue: group commit ------------------------------------------------


class _Batch:
    """Rows written in one transaction; each sender waits for `done`."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []
        # The server's own kind of event: a gevent Event under gevent.
        self.done = socketio.server.eio.create_event()
        # Positions of rows that were not stored, and why (their senders are told).
        self.failed: dict[int, str] = {}


def _queue(lines: _Lines, row: _Row) -> tuple[_Batch, int]:
    """Add a row to the open batch; returns the batch and the row's place."""
    with lines.pending_lock:
        return _queue_locked(lines, row)


def _queue_locked(lines: _Lines, row: _Row) -> tuple[_Batch, int]:
    """_queue with pending_lock held; the first row of a quiet spell starts
    the flusher."""
    batch = lines.pending
    batch.rows.append(row)
    position = len(batch.rows) - 1  # under the lock: another may append
    if not lines.flusher_running:
        lines.flusher_running = True
        socketio.start_background_task(_flusher, lines)
    return batch, position


def _await_commit(batch: _Batch, position: int, lines: _Lines) -> str | None:
    """Wait until the row's batch is written; None if the row is committed,
    else why not (FULL or REFUSED)."""
    # The flusher writes within flush_seconds; the bound only guards against a
    # flusher that died (its senders must not hang for ever).
    if not batch.done.wait(lines.flush_seconds + ACK_WAIT_SECONDS):
        _write_pending(lines, stop_when_empty=False)
    if not batch.done.is_set():
        return REFUSED
    return batch.failed.get(position)


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
            _unqueue_points(lines, batch.rows)
            batch.done.set()  # senders wake whatever happened (failed is set)
    return bool(batch.rows)


def _unqueue_points(lines: _Lines, rows: list[_Row]) -> None:
    """The batch's sketch points are committed (or refused): no longer queued."""
    with lines.pending_lock:
        for row in rows:
            if row.sketch:
                turn_id = row.values["turn_id"]
                left = lines.queued_points.get(turn_id, 0) - row.values["points"]
                if left > 0:
                    lines.queued_points[turn_id] = left
                else:
                    lines.queued_points.pop(turn_id, None)


def _write(lines: _Lines, batch: list[_Row]) -> dict[int, str]:
    """Write the rows in one transaction, else each alone; the ones not stored.

    One row the database refuses never takes the others with it: the batch is
    retried row by row, and only that row's sender hears it was not stored.
    """
    rows = [_prepared(lines, row) for row in batch]
    for attempt in (1, 2):
        connection = lines.writer.open(lines.engine)
        try:
            with write_gate(lines.engine):
                # The driver's work runs off the event loop under gevent (it
                # releases the GIL): a batch is ~4 ms that every socket would
                # otherwise wait out (docs/performance.md).
                failed = blocking(_store, connection, _sql(lines), rows)
            refused = sum(1 for why in failed.values() if why == REFUSED)
            if refused:
                log.warning("%d of %d rows could not be stored", refused, len(rows))
            return failed
        except Exception:  # noqa: BLE001 - logged; the room must keep going
            lines.writer.discard()  # a broken connection: the next try opens one
            if attempt == 2:
                log.exception("%d rows could not be stored", len(rows))
    return dict.fromkeys(range(len(rows)), REFUSED)


class _Sql(NamedTuple):
    """The statements a batch runs, in the driver's SQL."""

    signal: str
    sketch_count: str
    sketch_insert: str


class _Prepared(NamedTuple):
    """A row's driver parameters: a signal's, or a sketch's count and insert."""

    sketch: bool
    insert: Any
    count: Any = None


def _sql(lines: _Lines) -> _Sql:
    return _Sql(lines.insert.sql, lines.sketch_count.sql, lines.sketch_insert.sql)


def _prepared(lines: _Lines, row: _Row) -> _Prepared:
    """The row's values converted by their column types (on the event loop)."""
    if not row.sketch:
        return _Prepared(False, lines.insert.parameters(row.values))
    count = {
        "turn_id": row.values["turn_id"],
        "points": row.values["points"],
        "bound": MAX_POINTS_PER_TURN,
    }
    return _Prepared(
        True,
        lines.sketch_insert.parameters(row.values),
        lines.sketch_count.parameters(count),
    )


def _store(connection: Any, sql: _Sql, rows: list[_Prepared]) -> dict[int, str]:
    """Write the rows in one transaction, else each alone; positions not stored.

    Any refusal counts (a constraint, a value the driver cannot encode): the
    row is left out and the rest stored. A broken connection raises from the
    rollback and the caller retries on a new one. Runs on a thread of its own
    under gevent: nothing here may log or take a (cooperative) lock.
    """
    try:
        full = _run(connection.cursor(), sql, rows, range(len(rows)))
        connection.commit()
        return full
    except Exception:  # noqa: BLE001 - retried row by row below
        connection.rollback()
    failed: dict[int, str] = {}
    for position, row in enumerate(rows):
        try:
            failed.update(_run(connection.cursor(), sql, [row], [position]))
            connection.commit()
        except Exception:  # noqa: BLE001 - this row's sender is told
            connection.rollback()
            failed[position] = REFUSED
    return failed


def _run(cursor: Any, sql: _Sql, rows: list[_Prepared], positions) -> dict[int, str]:
    """Execute the rows (signals in one executemany); the sketches that were
    full."""
    signals = [row.insert for row in rows if not row.sketch]
    if signals:
        cursor.executemany(sql.signal, signals)
    full: dict[int, str] = {}
    for position, row in zip(positions, rows, strict=True):
        if row.sketch:
            cursor.execute(sql.sketch_count, row.count)
            if cursor.rowcount == 1:
                cursor.execute(sql.sketch_insert, row.insert)
            else:
                full[position] = FULL
    return full
