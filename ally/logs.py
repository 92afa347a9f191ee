"""Log lines that name their process: one line per record, key=value (logfmt).

    ts=2026-12-06T10:15:02.114Z level=info role=web pid=4121 port=5001
    logger=ally.heartbeat msg="heartbeat of web-1:5001 failed" exc="Traceback…"

(one line in the output). Several web processes, a scheduler and its standby
write to one journal or one terminal; `role`, `pid` and `port` say which wrote
what. Every entry point calls `configure_logs` once, before it serves or
schedules.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

# The process's part in the deployment (docs/deploy.md).
EMBEDDED = "embedded"  # python app.py with the scheduler inside
WEB = "web"  # python app.py with ALLY_SCHEDULER=off
SCHEDULER = "scheduler"  # flask --app app ally scheduler (holder or standby)

# APScheduler writes two INFO lines per job run, several a second. The
# scheduler process keeps them (its log is the record of what ran); in the
# embedded server they would bury everything else, so there only warnings.
QUIET_WHEN_EMBEDDED = ("apscheduler",)

_BARE = re.compile(r"[^\s\"=\\]+")
_ESCAPES = str.maketrans(
    {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)


def quote(value: object) -> str:
    """A logfmt value: bare when it can be, else in double quotes, escaped."""
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    return '"' + text.translate(_ESCAPES) + '"'


class KeyValueFormatter(logging.Formatter):
    """Formats a record as one key=value line, with this process's fields."""

    def __init__(self, role: str, port: int | None = None) -> None:
        super().__init__()
        self.role, self.port = role, port

    def format(self, record: logging.LogRecord) -> str:
        """ts, level, role, pid, port, logger, msg and, with one, exc."""
        at = datetime.fromtimestamp(record.created, UTC)
        fields: list[tuple[str, object]] = [
            (
                "ts",
                at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            ),
            ("level", record.levelname.lower()),
            ("role", self.role),
            ("pid", os.getpid()),
        ]
        if self.port is not None:
            fields.append(("port", self.port))
        fields += [("logger", record.name), ("msg", record.getMessage())]
        if record.exc_info:
            fields.append(("exc", self.formatException(record.exc_info)))
        elif record.exc_text:
            fields.append(("exc", record.exc_text))
        if record.stack_info:
            fields.append(("stack", self.formatStack(record.stack_info)))
        return " ".join(f"{key}={quote(value)}" for key, value in fields)


def configure_logs(
    role: str,
    port: int | None = None,
    *,
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record of this process to stderr as key=value lines."""
    from flask.logging import default_handler

    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(KeyValueFormatter(role, port))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Flask gives the app's logger ("ally") a handler of its own, which would
    # print every ally.* record a second time in another format.
    logging.getLogger("ally").removeHandler(default_handler)
    for name in QUIET_WHEN_EMBEDDED:
        quiet = role == EMBEDDED
        logging.getLogger(name).setLevel(
            max(level, logging.WARNING) if quiet else logging.NOTSET
        )
    return handler
