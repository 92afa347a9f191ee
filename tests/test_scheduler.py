"""The scheduler's wiring: static jobs stored once, the on/off switch, the CLI twin."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from ally import create_app
from ally.config import Defaults
from ally.extensions import db
from ally.jobs import JOBS
from ally.models import JobRun, Partnership, TeachSession
from ally.scheduler import JOBSTORE_TABLE, build_scheduler, scheduler_enabled
from tests.conftest import base_config

RUN_AT = "2026-03-10T18:00:00+00:00"
RUN_AT_INSTANT = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _restore_bound_app(monkeypatch):
    """build_scheduler binds a module-level app; put the old value back afterwards."""
    monkeypatch.setattr("ally.scheduler._app", None)


def stored_job_ids() -> list[str]:
    db.session.remove()
    with db.engine.connect() as connection:
        return list(
            connection.execute(
                text(f"SELECT id FROM {JOBSTORE_TABLE} ORDER BY id")
            ).scalars()
        )


def test_restarts_keep_exactly_one_stored_job_per_id(app):
    for _ in range(3):
        scheduler = build_scheduler(app)
        scheduler.start()
        assert {job.id for job in scheduler.get_jobs()} == set(JOBS)
        scheduler.shutdown(wait=True)

    ids = stored_job_ids()
    assert sorted(ids) == sorted(JOBS)
    assert len(ids) == len(set(ids)) == len(JOBS)


def test_stored_jobs_follow_the_configured_intervals(app):
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    try:
        for job in scheduler.get_jobs():
            _, seconds = JOBS[job.id]
            assert job.trigger.interval.total_seconds() == seconds, job.id
            assert job.args == (job.id,)
            assert job.coalesce is True
            assert job.max_instances == 1
            assert job.misfire_grace_time >= 3600
    finally:
        scheduler.shutdown(wait=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("on", True), ("off", False), ("ON", True), (" Off ", False)],
)
def test_scheduler_switch(make_app, value, expected):
    assert scheduler_enabled(make_app(ALLY_SCHEDULER=value)) is expected


def test_scheduler_is_on_by_default():
    assert Defaults.ALLY_SCHEDULER == "on"


@pytest.mark.parametrize(("value", "expected"), [("off", False), ("on", True)])
def test_scheduler_switch_comes_from_the_environment(
    tmp_path, monkeypatch, value, expected
):
    """app.py reads ALLY_SCHEDULER from the environment (no override given)."""
    monkeypatch.setenv("ALLY_SCHEDULER", value)
    config = base_config(tmp_path / "ally.db")
    del config["ALLY_SCHEDULER"]
    assert scheduler_enabled(create_app(config)) is expected


@pytest.mark.parametrize("value", ["yes", "", "1", "maybe"])
def test_an_invalid_scheduler_switch_is_refused(make_app, value):
    with pytest.raises(ValueError, match="ALLY_SCHEDULER must be 'on' or 'off'"):
        scheduler_enabled(make_app(ALLY_SCHEDULER=value))


def test_the_factory_starts_no_scheduler_thread(make_app):
    make_app(ALLY_SCHEDULER="on")
    assert not [t for t in threading.enumerate() if t.name == "ally-scheduler"]


@pytest.fixture
def due_partnership(make_user, make_partnership):
    """A pair meeting daily at 18:00 London, formed before 10 March 2026."""
    ann = make_user("ann@example.com", display_name="Ann")
    ben = make_user("ben@example.com", display_name="Ben")
    partnership = make_partnership(ann, ben)
    partnership.daily_minute = 18 * 60
    partnership.timezone = "Europe/London"
    partnership.created_at = datetime(2026, 3, 1, tzinfo=UTC)
    db.session.commit()
    return partnership


def run_cli(app, *args):
    return app.test_cli_runner().invoke(args=["ally", "run-job", *args])


def test_run_job_prints_its_result_and_records_the_run(app, due_partnership):
    result = run_cli(app, "open_sessions", "--now", RUN_AT)

    assert result.exit_code == 0, result.output
    # One session created (10 March, 18:00 UTC) and its room opened.
    assert result.output.strip() == "open_sessions: 2"
    db.session.expire_all()
    session = db.session.scalar(
        select(TeachSession).where(TeachSession.partnership_id == due_partnership.id)
    )
    assert session.local_date.isoformat() == "2026-03-10"
    assert session.starts_at == RUN_AT_INSTANT
    assert session.status == "open"
    assert db.session.get(JobRun, "open_sessions").last_run_at == RUN_AT_INSTANT

    again = run_cli(app, "open_sessions", "--now", RUN_AT)
    assert again.exit_code == 0, again.output
    assert again.output.strip() == "open_sessions: 0"
    count = select(func.count()).select_from(TeachSession)
    assert db.session.scalar(count) == 1


def test_run_job_converts_an_offset_to_utc(app, due_partnership):
    result = run_cli(app, "open_sessions", "--now", "2026-03-10T14:00:00-04:00")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(JobRun, "open_sessions").last_run_at == RUN_AT_INSTANT


@pytest.mark.parametrize(
    ("now", "message"),
    [
        ("2026-03-10T18:00:00", "give a time zone"),
        ("2026-03-10 18:00", "give a time zone"),
        ("next tuesday", "not an ISO 8601 instant"),
        ("2026-13-40T18:00:00+00:00", "not an ISO 8601 instant"),
    ],
)
def test_run_job_refuses_a_naive_or_malformed_now(app, due_partnership, now, message):
    result = run_cli(app, "open_sessions", "--now", now)

    assert result.exit_code == 2
    assert message in result.output
    assert "Invalid value" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(TeachSession)) == 0
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0


def test_run_job_refuses_an_unknown_job(app, due_partnership):
    result = run_cli(app, "delete_everything", "--now", RUN_AT)

    assert result.exit_code == 2
    assert "delete_everything" in result.output
    assert "open_sessions" in result.output  # the choices are listed
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0
    assert db.session.get(Partnership, due_partnership.id).status == "active"
