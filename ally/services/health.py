"""Whether this process's outside services answer: the database and, where
configured, Redis. Asked by `GET /healthz` (a load balancer, tests, the local
launcher) and once by every entry point before it serves or schedules."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from ..config import SettingsError, redis_url
from ..extensions import db, shared_redis

OK = "ok"
UNAVAILABLE = "unavailable"  # the error word of a 503 from /healthz


@dataclass(frozen=True)
class Health:
    """Each service's answer: "ok", or the first line of why not."""

    checks: dict[str, str]

    @property
    def ok(self) -> bool:
        """Whether every service answered."""
        return all(answer == OK for answer in self.checks.values())

    def problems(self) -> list[str]:
        """ "service: why" for each service that did not answer."""
        return [f"{name}: {why}" for name, why in self.checks.items() if why != OK]


def _first_line(error: BaseException) -> str:
    """An error's message without the driver's hints and SQL (one line)."""
    cause = getattr(error, "orig", None) or error
    lines = [" ".join(line.split()) for line in str(cause).splitlines()]
    return next((line for line in lines if line), type(cause).__name__)


def check_database(lane: Connection | None = None) -> str:
    """Run `SELECT 1` on a pooled connection (or on `lane`, a connection kept
    by the caller); "ok" or why it failed."""
    try:
        if lane is not None:
            try:
                lane.execute(text("SELECT 1"))
            finally:
                lane.rollback()
        else:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure is an answer
        return _first_line(error)
    return OK


def check_redis(app: Flask) -> str | None:
    """PING the configured Redis (short timeout); None when there is none."""
    client = shared_redis(app)
    if client is None:
        return None
    try:
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure is an answer
        return _first_line(error)
    return OK


def health(app: Flask, lane: Connection | None = None) -> Health:
    """Ask every configured service once (in an app context); the database
    on `lane` when given."""
    checks = {"database": check_database(lane)}
    answer = check_redis(app)
    if answer is not None:
        checks["redis"] = answer
    return Health(checks)


def require_services(app: Flask) -> None:
    """SettingsError, one line naming the setting, unless every service answers.

    Entry points call this before serving, so a wrong host, port or password
    stops the start instead of failing deep in the first request.
    """
    with app.app_context():
        result = health(app)
        db.session.remove()
    if result.checks["database"] != OK:
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        raise SettingsError(
            f"DATABASE_URL: cannot use {url.render_as_string(hide_password=True)}:"
            f" {result.checks['database']}"
        )
    if result.checks.get("redis", OK) != OK:
        url = make_url(redis_url(app.config) or "")
        raise SettingsError(
            "SOCKETIO_MESSAGE_QUEUE: cannot reach Redis at "
            f"{url.render_as_string(hide_password=True)}: {result.checks['redis']}"
        )
