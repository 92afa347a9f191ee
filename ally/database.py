"""Database setup: the engine, SQLite pragmas and migrations."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db, migrate

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """WAL for concurrent readers, a busy timeout, and enforced foreign keys."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class SqliteWriteGate:
    """One SQLite writer at a time per process, waited for cooperatively.

    Under gevent every request is a greenlet on one OS thread. SQLite's busy
    timeout sleeps inside C, which would stall every greenlet while another one
    (that cannot run) holds the write lock. Taking this (monkey-patched, hence
    cooperative) lock before the first write of a transaction, and releasing it
    at commit or rollback, makes waiting writers yield instead.
    """

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def install(self, engine: Engine) -> None:
        """Listen on the engine's statements and transaction ends."""
        event.listen(engine, "before_cursor_execute", self._before_execute)
        event.listen(engine, "commit", self._release)
        event.listen(engine, "rollback", self._release)
        _gates[engine] = self

    def _before_execute(self, conn, cursor, statement, params, context, many):
        if conn.info.get("write_gate"):
            return
        if statement.lstrip()[:7].upper().startswith(self.WRITES):
            self.lock.acquire()
            conn.info["write_gate"] = True

    def _release(self, conn) -> None:
        if conn.info.pop("write_gate", False):
            self.lock.release()


_gates: weakref.WeakKeyDictionary[Engine, SqliteWriteGate] = weakref.WeakKeyDictionary()


def write_gate(engine: Engine) -> AbstractContextManager:
    """Hold the engine's write gate, for writes made beside SQLAlchemy's
    execution (a DB-API cursor); a no-op where there is no gate."""
    gate = _gates.get(engine)
    return gate.lock if gate is not None else nullcontext()


def init_app(app: Flask) -> None:
    """Bind SQLAlchemy and Flask-Migrate to the app."""
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    if sqlite:
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.setdefault("connect_args", {"timeout": 10})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    if sqlite and app.config["ALLY_ASYNC_MODE"] == "gevent":
        with app.app_context():
            SqliteWriteGate().install(db.engine)


def upgrade_database(app: Flask) -> None:
    """Apply pending migrations (the embedded server does this at start)."""
    with app.app_context():
        upgrade(directory=MIGRATIONS)
