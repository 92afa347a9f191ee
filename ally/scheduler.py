"""APScheduler: the static jobs of ally.jobs, and the one-scheduler rule.

The embedded server (app.py) starts the scheduler in its own process. For a
scale-out deployment `flask --app app ally scheduler` runs it alone; on
PostgreSQL that process holds a session-level advisory lock, so a second copy
waits as a hot standby and takes over when the first dies.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from .extensions import db
from .jobs import JOBS, run_job
from .models import utcnow

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
# Any constant works: it only has to be the same for every scheduler process.
ADVISORY_LOCK_KEY = 0x414C4C59  # "ALLY"
_app: Flask | None = None


def run_scheduled(name: str) -> None:
    """Entry point APScheduler calls (by reference, so the job store can persist it)."""
    if _app is None:  # pragma: no cover - only if a stale store fires too early
        log.warning("job %s fired before the scheduler was bound to an app", name)
        return
    with _app.app_context():
        try:
            run_job(name, utcnow())
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", name)
            raise
        finally:
            db.session.remove()


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler with every static job, stored in the app's database."""
    global _app
    _app = app
    with app.app_context():
        url = db.engine.url
    scheduler = BackgroundScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(
                engine=create_engine(url), tablename=JOBSTORE_TABLE
            )
        },
        job_defaults={
            # Downtime loses nothing: late runs still happen, once, not in a burst.
            "coalesce": True,
            "misfire_grace_time": 3600,
            "max_instances": 1,
        },
        timezone=UTC,
    )
    for name, (_, seconds) in JOBS.items():
        scheduler.add_job(
            "ally.scheduler:run_scheduled",
            "interval",
            seconds=seconds,
            args=[name],
            id=name,
            name=name,
            replace_existing=True,
        )
    return scheduler


class SingleSchedulerLock:
    """A PostgreSQL session advisory lock held for the life of one connection.

    The connection is in autocommit mode, so it never sits "idle in
    transaction" (a server timeout for those would silently drop the lock).
    """

    def __init__(self, url) -> None:
        self.engine = create_engine(
            url, pool_pre_ping=True, isolation_level="AUTOCOMMIT"
        )
        self.connection = None

    def try_acquire(self) -> bool:
        """Take the lock if free; keeps the connection open while held.

        A database that cannot be reached right now is not fatal: the standby
        logs it and tries again at its next poll.
        """
        connection = None
        try:
            connection = self.engine.connect()
            held = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            ).scalar()
        except DBAPIError:
            log.warning("scheduler: database unavailable, will retry", exc_info=True)
            if connection is not None:
                connection.invalidate()
            return False
        if held:
            self.connection = connection
            return True
        connection.close()
        return False

    def alive(self) -> bool:
        """Whether the connection that holds the lock still answers."""
        try:
            self.connection.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means the lock is gone
            return False

    def release(self) -> None:
        """Drop the lock and its connection."""
        if self.connection is not None:
            try:
                self.connection.close()
            except DBAPIError:
                self.connection.invalidate()
            self.connection = None

    def dispose(self) -> None:
        """Close the engine's pool for good."""
        self.release()
        self.engine.dispose()


def scheduler_enabled(app: Flask) -> bool:
    """Whether this process may run jobs (ALLY_SCHEDULER=on, the default)."""
    value = str(app.config["ALLY_SCHEDULER"]).strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"ALLY_SCHEDULER must be 'on' or 'off', not {value!r}")
    return value == "on"


def start_in_background(app: Flask) -> tuple[threading.Thread, threading.Event]:
    """Run the scheduler on a daemon thread of this process (the embedded server)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler_process,
        args=(app, stop),
        name="ally-scheduler",
        daemon=True,
    )
    thread.start()
    return thread, stop


def run_scheduler_process(app: Flask, stop: threading.Event, poll: float = 2.0) -> None:
    """Run the scheduler until `stop`; on PostgreSQL only while holding the lock.

    A process that loses the lock (its connection died) stops its jobs and
    goes back to waiting as a standby, so there is never more than one runner
    and a standby stays available.
    """
    with app.app_context():
        url = db.engine.url
    lock = SingleSchedulerLock(url) if url.get_backend_name() == "postgresql" else None
    try:
        while not stop.is_set():
            if lock is not None:
                log.info("scheduler: waiting for the advisory lock (standby)")
                while not stop.is_set() and not lock.try_acquire():
                    stop.wait(poll)
                if stop.is_set():
                    return
                log.info("scheduler: lock acquired, running jobs")
            scheduler = build_scheduler(app)
            scheduler.start()
            try:
                while not stop.wait(poll):
                    if lock is not None and not lock.alive():
                        log.error("scheduler: lost the database lock; standing by")
                        break
            finally:
                scheduler.shutdown(wait=True)
            if lock is not None:
                lock.release()
                # The process that lost its connection is the suspect one: give
                # the standby (polling every `poll` seconds) the first chance.
                stop.wait(3 * poll)
    finally:
        if lock is not None:
            lock.dispose()
