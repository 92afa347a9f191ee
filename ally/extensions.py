"""Flask extensions, created unbound and bound by the application factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .config import redis_url

if TYPE_CHECKING:
    from redis import Redis

# Stable constraint names so migrations can drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for all models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
socketio = SocketIO()

# A Redis that does not answer within this long counts as away: callers (the
# health check, the shared rate buckets) fall back rather than stall a request.
REDIS_TIMEOUT = 0.5


def shared_redis(app: Flask) -> Redis | None:
    """The app's client of the Redis in SOCKETIO_MESSAGE_QUEUE; None without one."""
    url = redis_url(app.config)
    if url is None:
        return None
    client = app.extensions.get("ally.redis")
    if client is None:
        from redis import Redis

        client = app.extensions["ally.redis"] = Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
            health_check_interval=30,
        )
    return client
