"""The scheduler in real processes: embedded in `python app.py`, and alone on
PostgreSQL where one `flask --app app ally scheduler` holds the advisory lock and
a second waits as a hot standby until the first dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from ally import create_app
from ally.database import upgrade_database
from ally.extensions import db
from ally.models import utcnow
from ally.scheduler import ADVISORY_LOCK_KEY
from ally.services import accounts, partners, profiles
from tests.conftest import PASSWORD
from tests.support.live_server import REPO_ROOT, LiveServer
from tests.support.services import fresh_postgres_database

pytestmark = pytest.mark.live

SECRET_KEY = "ally-live-scheduler-tests"
# open_sessions runs every 15 s: its first run comes 15 s after the start.
FIRST_RUN_TIMEOUT = 60.0
TAKEOVER_TIMEOUT = 15.0
LOCK_ACQUIRED = "scheduler: lock acquired, running jobs"
STANDBY = "scheduler: waiting for the advisory lock (standby)"


def wait_for(check: Callable[[], object], timeout: float, what: str, logs=()):
    """Poll `check` until it returns something truthy; fail with the logs if not."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {path.name} ---\n{read(path)[-3000:]}" for path in logs
            )
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")
        time.sleep(0.25)


def read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def seed_due_partnership(database_url: str, starts_in: timedelta) -> int:
    """Two partners whose daily session starts in about `starts_in` (London)."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "ALLY_SCHEDULER": "off",
        }
    )
    upgrade_database(app)
    with app.app_context():
        now = utcnow()
        ann = accounts.register("ann@example.com", PASSWORD, "Ann", "Europe/London")
        ben = accounts.register("ben@example.com", PASSWORD, "Ben", "Europe/London")
        for user in (ann, ben):
            profiles.update_profile(
                user.id, {"availability": [{"start": "00:00", "end": "23:30"}]}
            )
        request = partners.send_request(ann.id, ben.id, "", now)
        partnership = partners.accept_request(ben.id, request.id, now)
        start = (now + starts_in).astimezone(ZoneInfo("Europe/London"))
        partnership.daily_minute = start.hour * 60 + start.minute
        partnership.timezone = "Europe/London"
        partnership.weekdays = 127
        db.session.commit()
        pid = partnership.id
        db.session.remove()
        db.engine.dispose()
    return pid


def scalar(engine: Engine, sql: str, **params):
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def job_run_count(engine: Engine) -> int:
    return scalar(engine, "SELECT count(*) FROM job_runs")


def job_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(text("SELECT job_id FROM job_runs")).scalars())


def open_session(engine: Engine, pid: int):
    """The partnership's stored session once it is open, else None."""
    row = session_of(engine, pid)
    return row if row is not None and row.status == "open" else None


def session_of(engine: Engine, pid: int):
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT id, status, starts_at FROM teach_sessions"
                " WHERE partnership_id = :pid"
            ),
            {"pid": pid},
        ).first()


def as_utc(value) -> datetime:
    """A timestamp read back through a plain SQL query, as an aware UTC instant."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def server_env(database_url: str, scheduler: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "ALLY_SCHEDULER": scheduler,
        "SOCKETIO_MESSAGE_QUEUE": "",
    }


# --- embedded: python app.py --------------------------------------------------


def test_embedded_server_runs_the_jobs_in_process(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'ally.db'}"
    pid = seed_due_partnership(database_url, timedelta(minutes=5))
    engine = create_engine(database_url)
    server = LiveServer(
        server_env(database_url, "on"), log_path=tmp_path / "server.log"
    )
    try:
        assert session_of(engine, pid) is None
        server.start()

        row = wait_for(
            lambda: open_session(engine, pid),
            FIRST_RUN_TIMEOUT,
            "the session to be stored and opened",
            logs=[server.log_path],
        )
        expected_start = utcnow() + timedelta(minutes=5)
        assert abs(as_utc(row.starts_at) - expected_start) < timedelta(minutes=3)
        wait_for(
            lambda: job_ids(engine) >= {"open_sessions", "advance_phases"},
            FIRST_RUN_TIMEOUT,
            "job_runs rows",
            logs=[server.log_path],
        )
        opened = scalar(
            engine,
            "SELECT count(*) FROM notifications WHERE kind = 'session_open'"
            " AND url = :url",
            url=f"/sessions/{row.id}",
        )
        assert opened == 2  # both partners told, once each
        assert server.is_running()
    finally:
        server.stop()
        engine.dispose()
    assert "Traceback" not in server.log_text()


def test_embedded_server_with_the_scheduler_off_runs_nothing(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'ally.db'}"
    pid = seed_due_partnership(database_url, timedelta(minutes=5))
    engine = create_engine(database_url)
    server = LiveServer(
        server_env(database_url, "off"), log_path=tmp_path / "server.log"
    )
    try:
        server.start()
        # With the scheduler on, advance_phases would have run several times by
        # now (every second); off, no job ever runs in this process.
        time.sleep(4)
        assert server.is_running()
        assert job_run_count(engine) == 0
        assert session_of(engine, pid) is None
    finally:
        server.stop()
        engine.dispose()


# --- scale-out: flask --app app ally scheduler on PostgreSQL ------------------


def start_scheduler(database_url: str, name: str, log_path: Path) -> subprocess.Popen:
    """One `flask --app app ally scheduler`; its connections carry `name`."""
    env = {
        **os.environ,
        **server_env(database_url, "on"),
        "PYTHONUNBUFFERED": "1",
        # libpq's application name: pg_stat_activity tells whose connection is whose.
        "PGAPPNAME": name,
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "ally", "scheduler"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def lock_holders(engine: Engine) -> list[tuple[int, str]]:
    """(backend pid, application name) holding the scheduler's advisory lock."""
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT l.pid, a.application_name FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.classid::bigint = 0 AND l.objid::bigint = :key"
                    " AND l.objsubid = 1 AND l.database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"key": ADVISORY_LOCK_KEY},
            )
        ]


def backends_of(engine: Engine, name: str) -> list[int]:
    """Backend pids of one scheduler process's connections."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": name},
            ).scalars()
        )


def last_job_run(engine: Engine) -> datetime | None:
    value = scalar(engine, "SELECT max(last_run_at) FROM job_runs")
    return None if value is None else as_utc(value)


class Schedulers:
    """Two scheduler processes on one fresh, migrated PostgreSQL database."""

    NAMES = ("ally-scheduler-a", "ally-scheduler-b")

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.engine = create_engine(database_url)
        self.logs = {name: tmp_path / f"{name}.log" for name in self.NAMES}
        self.processes = {}
        for name, path in self.logs.items():
            self.processes[name] = start_scheduler(database_url, name, path)
        self.active = self.standby = ""

    def elect(self) -> None:
        """Wait until one holds the lock and the other says it is the standby."""
        active = self.wait_for(
            lambda: [n for n in self.NAMES if LOCK_ACQUIRED in self.log(n)],
            30,
            "one scheduler to take the lock",
        )
        assert len(active) == 1, "both schedulers took the lock"
        self.active = active[0]
        (self.standby,) = set(self.NAMES) - {self.active}
        self.wait_for(
            lambda: STANDBY in self.log(self.standby),
            30,
            "the other scheduler to wait as a standby",
        )

    def log(self, name: str) -> str:
        return read(self.logs[name])

    def wait_for(self, check, timeout: float, what: str):
        return wait_for(check, timeout, what, logs=self.logs.values())

    def wait_for_job_runs_after(self, instant: datetime, timeout: float) -> None:
        self.wait_for(
            lambda: (last_job_run(self.engine) or instant) > instant,
            timeout,
            f"job_runs to advance past {instant.isoformat()}",
        )

    def close(self) -> None:
        for process in self.processes.values():
            stop(process)
        self.engine.dispose()


@pytest.fixture
def schedulers(tmp_path):
    with fresh_postgres_database() as database_url:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": SECRET_KEY,
                "SQLALCHEMY_DATABASE_URI": database_url,
                "ALLY_SCHEDULER": "off",
            }
        )
        upgrade_database(app)
        with app.app_context():
            db.engine.dispose()
        pair = Schedulers(database_url, tmp_path)
        try:
            pair.elect()
            yield pair
        finally:
            pair.close()


@pytest.mark.postgres
def test_one_scheduler_runs_jobs_and_a_standby_takes_over(schedulers):
    active, standby = schedulers.active, schedulers.standby
    engine = schedulers.engine
    # The active one runs jobs: job_runs keeps advancing.
    first = schedulers.wait_for(lambda: last_job_run(engine), 30, "a job run")
    schedulers.wait_for_job_runs_after(first, 10)
    holders = lock_holders(engine)
    assert [name for _, name in holders] == [active]
    # Only the lock holder ran anything; the standby only waits.
    assert "Running job" in schedulers.log(active)
    assert "Running job" not in schedulers.log(standby)
    assert LOCK_ACQUIRED not in schedulers.log(standby)
    assert schedulers.processes[standby].poll() is None

    # The active scheduler dies without a chance to clean up.
    os.killpg(schedulers.processes[active].pid, signal.SIGKILL)
    schedulers.processes[active].wait(timeout=10)
    killed_at = utcnow()

    schedulers.wait_for(
        lambda: LOCK_ACQUIRED in schedulers.log(standby),
        TAKEOVER_TIMEOUT,
        "the standby to take the lock",
    )
    schedulers.wait_for_job_runs_after(killed_at, TAKEOVER_TIMEOUT)
    after = lock_holders(engine)
    assert [name for _, name in after] == [standby]
    assert after[0][0] != holders[0][0]
    assert "Running job" in schedulers.log(standby)
    for name in schedulers.NAMES:
        assert "Traceback" not in schedulers.log(name), schedulers.log(name)[-3000:]


@pytest.mark.postgres
def test_standby_survives_a_dropped_connection(schedulers):
    """A restart of PostgreSQL, a proxy's idle timeout or pg_terminate_backend
    drops the standby's pooled connection; it must keep waiting, not crash."""
    active, standby = schedulers.active, schedulers.standby
    engine = schedulers.engine
    dropped = schedulers.wait_for(
        lambda: backends_of(engine, standby), 10, "the standby's connection"
    )
    with engine.connect() as connection:
        for pid in dropped:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()
    # The standby polls every 2 s: give it a few polls on the dropped connection.
    time.sleep(5)
    assert schedulers.processes[standby].poll() is None, schedulers.log(standby)

    os.killpg(schedulers.processes[active].pid, signal.SIGKILL)
    schedulers.processes[active].wait(timeout=10)
    killed_at = utcnow()
    schedulers.wait_for(
        lambda: LOCK_ACQUIRED in schedulers.log(standby),
        TAKEOVER_TIMEOUT,
        "the standby to take the lock",
    )
    schedulers.wait_for_job_runs_after(killed_at, TAKEOVER_TIMEOUT)


@pytest.mark.postgres
def test_a_holder_that_loses_its_connection_stands_by_and_the_other_takes_over(
    schedulers,
):
    """The lock holder's connection is killed (not the process): it stops its
    jobs and waits as a standby; the other one takes the lock. Still one runner,
    and still a standby."""
    active, standby = schedulers.active, schedulers.standby
    engine = schedulers.engine
    schedulers.wait_for(lambda: last_job_run(engine), 30, "a job run")
    ((holder_pid, _),) = lock_holders(engine)
    with engine.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(:pid)"), {"pid": holder_pid}
        )
        connection.commit()
    dropped_at = utcnow()
    schedulers.wait_for(
        lambda: LOCK_ACQUIRED in schedulers.log(standby),
        TAKEOVER_TIMEOUT,
        "the standby to take the lock",
    )
    schedulers.wait_for_job_runs_after(dropped_at, TAKEOVER_TIMEOUT)
    assert [name for _, name in lock_holders(engine)] == [standby]
    # The old holder is alive and waiting again, not running jobs.
    assert schedulers.processes[active].poll() is None, schedulers.log(active)
    assert "lost the database lock; standing by" in schedulers.log(active)
    schedulers.wait_for(
        lambda: schedulers.log(active).count(STANDBY) >= 2,
        TAKEOVER_TIMEOUT,
        "the old holder to wait as a standby again",
    )
    assert [name for _, name in lock_holders(engine)] == [standby]
