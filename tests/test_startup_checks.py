"""A database or message queue no process can use stops `python app.py` and
`flask --app app ally scheduler` at start, with one line on stderr naming the
setting and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url

from tests.support.live_server import REPO_ROOT, free_port
from tests.support.services import require_postgres, require_redis

pytestmark = pytest.mark.live

START_TIMEOUT = 120


def run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run an entry point to its end with these settings (no inherited ones)."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "SOCKETIO_MESSAGE_QUEUE")
        and not key.startswith("ALLY_")
    }
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={**inherited, "SECRET_KEY": "startup-checks", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


def server(**env: str) -> subprocess.CompletedProcess[str]:
    """`python app.py` on a port nothing uses, as a web process."""
    port = str(free_port())
    command = [sys.executable, "app.py", "--port", port]
    return run(command, ALLY_SCHEDULER="off", **env)


def scheduler(**env: str) -> subprocess.CompletedProcess[str]:
    """The scheduler process."""
    command = [sys.executable, "-m", "flask", "--app", "app", "ally", "scheduler"]
    return run(command, **env)


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start printed (asserting that it is one line)."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ally: "), lines[0]
    return lines[0]


def closed_port_url(scheme: str) -> str:
    return f"{scheme}://user:hunter2@127.0.0.1:{free_port()}/0"


def test_an_unknown_database_scheme_stops_the_web_process():
    line = refusal(server(DATABASE_URL="mysql://root:hunter2@127.0.0.1/ally"))
    assert line == (
        "ally: DATABASE_URL: Ally runs on PostgreSQL or SQLite, not 'mysql'; use "
        "postgresql://user:password@host:5432/name or sqlite:///path."
    )


def test_a_database_file_that_cannot_be_opened_stops_the_web_process(tmp_path):
    missing = tmp_path / "no-such-folder" / "ally.db"
    line = refusal(server(DATABASE_URL=f"sqlite:///{missing}"))
    assert line == (
        f"ally: DATABASE_URL: cannot use sqlite:///{missing}: "
        "unable to open database file"
    )


def test_an_unreachable_postgres_stops_the_web_and_the_scheduler_process():
    url = closed_port_url("postgresql")
    for result in (server(DATABASE_URL=url), scheduler(DATABASE_URL=url)):
        line = refusal(result)
        assert line.startswith("ally: DATABASE_URL: cannot use postgresql+psycopg://")
        assert "Connection refused" in line
        assert "hunter2" not in line


@pytest.mark.postgres
def test_a_postgres_role_that_does_not_exist_stops_the_start():
    url = make_url(require_postgres()).set(username="nobody", password="hunter2")
    line = refusal(server(DATABASE_URL=url.render_as_string(hide_password=False)))
    assert line.startswith("ally: DATABASE_URL: cannot use postgresql+psycopg://")
    assert line.endswith('failed: FATAL: role "nobody" does not exist')
    assert "hunter2" not in line


def test_a_message_queue_that_is_not_redis_stops_the_start():
    url = "amqp://guest:hunter2@127.0.0.1:5672//"
    for result in (
        server(SOCKETIO_MESSAGE_QUEUE=url),
        scheduler(SOCKETIO_MESSAGE_QUEUE=url),
    ):
        assert refusal(result) == (
            "ally: SOCKETIO_MESSAGE_QUEUE must be a Redis URL, redis://host:6379/0 "
            "(got one starting 'amqp')."
        )


def test_an_unreachable_redis_stops_the_web_and_the_scheduler_process(tmp_path):
    database = f"sqlite:///{tmp_path / 'ally.db'}"
    url = closed_port_url("redis")
    for result in (
        server(DATABASE_URL=database, SOCKETIO_MESSAGE_QUEUE=url),
        scheduler(DATABASE_URL=database, SOCKETIO_MESSAGE_QUEUE=url),
    ):
        line = refusal(result)
        assert line.startswith(
            "ally: SOCKETIO_MESSAGE_QUEUE: cannot reach Redis at redis://user:***@"
        )
        assert "Connection refused" in line
        assert "hunter2" not in line


@pytest.mark.redis
def test_a_reachable_redis_is_no_refusal(migrated_template, tmp_path):
    """The check is no obstacle when Redis answers: the scheduler starts."""
    url = require_redis()
    shutil.copy(migrated_template, tmp_path / "ally.db")
    database = f"sqlite:///{tmp_path / 'ally.db'}"
    command = [sys.executable, "-m", "flask", "--app", "app", "ally", "scheduler"]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ALLY_")}
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={
            **inherited,
            "SECRET_KEY": "startup-checks",
            "DATABASE_URL": database,
            "SOCKETIO_MESSAGE_QUEUE": url,
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline() == "scheduler: starting\n"
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=START_TIMEOUT)
    assert process.returncode == 0, rest
    assert "Traceback" not in rest
