"""Log lines name their process: one key=value line per record (ally/logs.py)."""

from __future__ import annotations

import io
import logging
import re

import pytest
from flask.logging import default_handler

from ally import logs
from tests.support.live_server import LiveServer

PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)(?: |$)')


def parse(line: str) -> dict[str, str]:
    """A logfmt line back into its fields (quoted values unescaped)."""
    fields = {}
    position = 0
    for match in PAIR.finditer(line):
        assert match.start() == position, f"not key=value at {position}: {line}"
        key, value = match.groups()
        if value.startswith('"'):
            value = re.sub(
                r"\\(.)",
                lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m[1], m[1]),
                value[1:-1],
            )
        fields[key] = value
        position = match.end()
    assert position == len(line), line
    return fields


@pytest.fixture
def configured():
    """`logs.configure_logs` into a buffer; the root logger restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_WHEN_EMBEDDED}
    buffer = io.StringIO()
    logs.configure_logs(logs.WEB, port=5001, stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger("ally").removeHandler(default_handler)


def test_a_record_is_one_line_that_names_the_process(configured):
    logging.getLogger("ally.scheduler").info("scheduler: lock acquired, running jobs")
    (line,) = configured.getvalue().splitlines()
    fields = parse(line)
    assert fields["level"] == "info"
    assert (fields["role"], fields["port"]) == ("web", "5001")
    assert int(fields["pid"]) > 0
    assert fields["logger"] == "ally.scheduler"
    # Messages stay readable and greppable as they were written.
    assert fields["msg"] == "scheduler: lock acquired, running jobs"
    assert 'msg="scheduler: lock acquired, running jobs"' in line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["ts"])


def test_a_traceback_and_odd_characters_stay_on_the_line(configured):
    try:
        raise RuntimeError('a "quoted"\nsecond line')
    except RuntimeError:
        logging.getLogger("ally.heartbeat").exception("beat of %s failed", "h=1 x")
    (line,) = configured.getvalue().splitlines()
    fields = parse(line)
    assert fields["level"] == "error"
    assert fields["msg"] == "beat of h=1 x failed"
    assert fields["exc"].startswith("Traceback (most recent call last):\n")
    assert fields["exc"].endswith('RuntimeError: a "quoted"\nsecond line')


def test_the_apps_own_logger_prints_each_record_once(configured):
    # Flask gives the app's logger ("ally") a handler when it is first used
    # before logging is set up; configure takes it away again.
    logging.getLogger("ally").addHandler(default_handler)
    logs.configure_logs(logs.WEB, port=5001, stream=configured)
    logging.getLogger("ally.heartbeat").warning("once")
    assert len(configured.getvalue().splitlines()) == 1


def test_apschedulers_per_run_lines_are_quiet_in_the_embedded_server(configured):
    def run_lines() -> list[str]:
        logging.getLogger("apscheduler.executors.default").info('Running job "x"')
        logging.getLogger("apscheduler.scheduler").warning("a missed run")
        lines = configured.getvalue().splitlines()
        configured.truncate(0)
        configured.seek(0)
        return [parse(line)["msg"] for line in lines]

    logs.configure_logs(logs.EMBEDDED, port=5000, stream=configured)
    assert run_lines() == ["a missed run"]
    # The scheduler process keeps them: its log is the record of what ran.
    logs.configure_logs(logs.SCHEDULER, stream=configured)
    assert run_lines() == ['Running job "x"', "a missed run"]


@pytest.mark.live
def test_a_web_process_logs_with_its_role_pid_and_port(tmp_path):
    database = f"sqlite:///{tmp_path / 'ally.db'}"
    server = LiveServer(
        {
            "DATABASE_URL": database,
            "SECRET_KEY": "logs",
            "ALLY_SCHEDULER": "off",
            "SOCKETIO_MESSAGE_QUEUE": "",
        },
        log_path=tmp_path / "server.log",
    )
    with server:
        pid = server.process.pid
    records = [
        parse(line) for line in server.log_text().splitlines() if line.startswith("ts=")
    ]
    # A fresh database: the migrations' lines, at least, came through logging.
    assert any("Running upgrade" in record["msg"] for record in records)
    for record in records:
        assert (record["role"], record["pid"], record["port"]) == (
            "web",
            str(pid),
            str(server.port),
        )
