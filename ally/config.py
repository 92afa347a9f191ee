"""Configuration: defaults, instance/config.py, the environment, then overrides."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .domain.call import ICE_TRANSPORT_POLICIES, url_list
from .domain.reteach import DEFAULT_RETENTION, check_retention


class Defaults:
    """Values used when nothing else says otherwise."""

    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # set from instance_path when None
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
    SOCKETIO_MESSAGE_QUEUE: str | None = None
    MAX_CONTENT_LENGTH = 64 * 1024
    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the login session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # None: the Redis in SOCKETIO_MESSAGE_QUEUE when there is one, so every web
    # process counts against the same limits; else memory:// (load_config).
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_HEADERS_ENABLED = True
    # A Redis that stops answering counts in memory meanwhile, rather than
    # failing the login page (and answers quickly when it is gone).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_STORAGE_OPTIONS: dict[str, Any] = {
        "socket_connect_timeout": 1,
        "socket_timeout": 1,
    }

    # Flask-Smorest / OpenAPI
    API_TITLE = "Ally API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"

    # Ally's own settings (each may be set as an environment variable).
    ALLY_SCHEDULER = "on"
    # How Socket.IO serves: "threading" (Werkzeug) or "gevent" (needs gevent,
    # and app.py patches the standard library first). See docs/performance.md.
    ALLY_ASYNC_MODE = "threading"
    ALLY_AUTH_RATE_LIMIT = "10 per minute"
    ALLY_MAX_PARTNERSHIPS = 1
    ALLY_REQUEST_TTL_DAYS = 7
    ALLY_SESSION_MINUTES = 60
    ALLY_MIN_TEACH_SECONDS = 60
    ALLY_MIN_RATE_SECONDS = 30
    ALLY_SUGGESTION_LIMIT = 20
    ALLY_SOCKET_ORIGINS = ""  # extra allowed origins, comma separated
    ALLY_TRUSTED_PROXIES = 0  # proxies in front whose X-Forwarded-* are believed
    # This server's name in the live_sockets table (app.py sets host:port).
    ALLY_INSTANCE = "local"
    ALLY_COOKIE_SECURE = False
    ALLY_BASE_URL = ""  # e.g. https://ally.example.org, for links in e-mails
    ALLY_SMTP_HOST = ""  # e-mail is off when empty
    ALLY_SMTP_PORT = 25
    ALLY_SMTP_USER = ""
    ALLY_SMTP_PASSWORD = ""
    ALLY_SMTP_STARTTLS = False
    ALLY_MAIL_FROM = "Ally <no-reply@localhost>"
    ALLY_REMINDER_MINUTES = 10
    ALLY_ROOM_OPENS_MINUTES = 10
    ALLY_NO_SHOW_MINUTES = 10
    # Accepted signals are written in batches this often; a listener's ack
    # waits for its batch's commit (room/signal_store.py, docs/room.md).
    ALLY_SIGNAL_FLUSH_MS = 20
    # What a signal's read said about its socket and room is trusted this long
    # unless the room changes first (room/kept_facts.py); 0 reads every time.
    ALLY_KEPT_FACTS_SECONDS = 2.0
    # Every serving process beats this often; one silent this long is dead and
    # its sockets are forgotten (room/instances.py).
    ALLY_HEARTBEAT_SECONDS = 5
    ALLY_INSTANCE_DEAD_SECONDS = 20
    # The call (docs/call.md): ICE servers handed to the two partners. With
    # none, calls on one network still connect (host candidates).
    ALLY_STUN_URLS = ""  # comma separated, e.g. stun:turn.example.org:3478
    ALLY_TURN_URLS = ""  # comma separated, e.g. turn:turn.example.org:3478
    ALLY_TURN_SECRET = ""  # coturn's static-auth-secret
    ALLY_TURN_TTL_SECONDS = 3600
    ALLY_ICE_TRANSPORT_POLICY = "all"  # or "relay": only through TURN
    # Students whose review figures are kept between requests (review_cache);
    # 0 recomputes them on every request.
    ALLY_REVIEW_CACHE_SIZE = 64
    # The re-teach schedule (FSRS): the chance of explaining a topic well
    # that its next due date aims for (docs/review.md).
    ALLY_DESIRED_RETENTION = DEFAULT_RETENTION


class SettingsError(ValueError):
    """A setting that stops start-up; its message is one line naming the setting."""


REDIS_SCHEMES = ("redis://", "rediss://")
DATABASE_BACKENDS = ("postgresql", "sqlite")


def redis_url(config: Mapping[str, Any]) -> str | None:
    """The Redis in SOCKETIO_MESSAGE_QUEUE, or None when there is none."""
    queue = config.get("SOCKETIO_MESSAGE_QUEUE")
    return queue if queue and str(queue).startswith(REDIS_SCHEMES) else None


def _coerce(name: str, raw: str, default: Any) -> Any:
    """Convert an environment string to the type of its default."""
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number (got {raw!r}).") from None
    return raw


def _from_environment(app: Flask) -> None:
    """Apply DATABASE_URL, SECRET_KEY, SOCKETIO_MESSAGE_QUEUE and ALLY_* variables."""
    env = os.environ
    if env.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = _normalize_db_url(env["DATABASE_URL"])
    for name in ("SECRET_KEY", "SOCKETIO_MESSAGE_QUEUE", "RATELIMIT_STORAGE_URI"):
        if env.get(name):
            app.config[name] = env[name]
    for name, value in env.items():
        if name.startswith("ALLY_") and name in app.config:
            app.config[name] = _coerce(name, value, app.config[name])


def _normalize_db_url(url: str) -> str:
    """Use psycopg 3 for plain postgres URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _instance_secret_key(instance_path: str) -> str:
    """Read the generated secret key from instance/, creating it on first use."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def load_config(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill app.config in order: defaults, instance file, environment, overrides."""
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    _from_environment(app)
    if overrides:
        app.config.from_mapping(overrides)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        db_path = Path(app.instance_path) / "ally.db"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_path}"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret_key(app.instance_path)
    try:
        _check_services(app.config)
        _check_call_settings(app.config)
        check_retention(float(app.config["ALLY_DESIRED_RETENTION"]))
    except SettingsError:
        raise
    except ValueError as error:
        raise SettingsError(str(error)) from error
    if not app.config["RATELIMIT_STORAGE_URI"]:
        app.config["RATELIMIT_STORAGE_URI"] = redis_url(app.config) or "memory://"
    secure = bool(app.config["ALLY_COOKIE_SECURE"])
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.config["REMEMBER_COOKIE_SECURE"] = secure


def _scheme(url: Any) -> str:
    """What a URL starts with, never its credentials, for a message."""
    return str(url).split(":", 1)[0][:20]


def _check_services(config: dict[str, Any]) -> None:
    """Refuse a database or message queue URL no process could use, at start-up.

    Whether they answer is checked by the entry points (services/health.py):
    building an app connects to nothing.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = config["SQLALCHEMY_DATABASE_URI"]
    scheme = _scheme(raw)
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            f"DATABASE_URL is not a database URL (starts {scheme!r}); use "
            "postgresql://user:password@host:5432/name or sqlite:///path."
        ) from None
    if url.get_backend_name() not in DATABASE_BACKENDS:
        raise SettingsError(
            f"DATABASE_URL: Ally runs on PostgreSQL or SQLite, not {scheme!r}; use "
            "postgresql://user:password@host:5432/name or sqlite:///path."
        )
    try:
        url.get_dialect().import_dbapi()
    except ImportError as error:
        raise SettingsError(
            f"DATABASE_URL: the driver for {scheme!r} is not installed ({error})."
        ) from None
    if url.get_backend_name() == "postgresql":
        # An unreachable host fails within seconds instead of the kernel's
        # minutes (start-up, /healthz, a request while the database is away).
        options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
        connect_args = dict(options.get("connect_args", {}))
        connect_args.setdefault("connect_timeout", 5)
        options["connect_args"] = connect_args
        config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    queue = config["SOCKETIO_MESSAGE_QUEUE"]
    if queue and not str(queue).startswith(REDIS_SCHEMES):
        raise SettingsError(
            "SOCKETIO_MESSAGE_QUEUE must be a Redis URL, "
            f"redis://host:6379/0 (got one starting {_scheme(queue)!r})."
        )


def _check_call_settings(config: Mapping[str, Any]) -> None:
    """Refuse call settings that would make every call fail, at start-up."""
    policy = config["ALLY_ICE_TRANSPORT_POLICY"]
    if policy not in ICE_TRANSPORT_POLICIES:
        raise ValueError(
            "ALLY_ICE_TRANSPORT_POLICY must be one of "
            f"{', '.join(ICE_TRANSPORT_POLICIES)} (got {policy!r})."
        )
    turn = url_list(config["ALLY_TURN_URLS"])
    for name, schemes in (
        ("ALLY_STUN_URLS", ("stun:", "stuns:")),
        ("ALLY_TURN_URLS", ("turn:", "turns:")),
    ):
        for url in url_list(config[name]):
            if not url.startswith(schemes):
                raise ValueError(
                    f"{name}: {url!r} must start with {' or '.join(schemes)}"
                )
    if turn and not config["ALLY_TURN_SECRET"]:
        raise ValueError(
            "ALLY_TURN_URLS needs ALLY_TURN_SECRET (coturn's static-auth-secret)."
        )
    if policy == "relay" and not turn:
        raise ValueError("ALLY_ICE_TRANSPORT_POLICY=relay needs ALLY_TURN_URLS.")
    ttl = config["ALLY_TURN_TTL_SECONDS"]
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 60:
        raise ValueError("ALLY_TURN_TTL_SECONDS must be at least 60.")
