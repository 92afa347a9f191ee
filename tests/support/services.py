"""Locate the outside services some tests need: PostgreSQL, Redis, Chromium.

Each ``require_*`` helper returns how to reach the service. When it is not
reachable the test is skipped on a developer's machine but fails in CI
(``CI=true``), where .ci/run is responsible for starting everything.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_CHROMIUM = "/usr/bin/chromium"


def _unavailable(message: str) -> None:
    """Fail in CI, where the service must be there; skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: .ci/run should have provided it)")
    pytest.skip(message)


def _libpq_url(url: str) -> str:
    """Turn a SQLAlchemy URL into one psycopg accepts (drop the driver)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def _with_database(url: str, name: str) -> str:
    """Return ``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


def postgres_url() -> str:
    """The configured PostgreSQL SQLAlchemy URL, reachable or not."""
    return os.environ.get("ALLY_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def require_postgres() -> str:
    """Return a SQLAlchemy URL of a reachable PostgreSQL test database."""
    url = postgres_url()
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed")
    try:
        with psycopg.connect(_libpq_url(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"PostgreSQL is not reachable at {url}: {exc}")
    return url


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database ``ally_test_<hex>``; yield its SQLAlchemy URL.

    The database is dropped afterwards, even if connections are still open.
    """
    import psycopg
    from psycopg import sql

    base = require_postgres()
    name = f"ally_test_{secrets.token_hex(6)}"
    admin = _libpq_url(base)
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(base, name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def redis_url() -> str:
    """The configured Redis URL, reachable or not."""
    return os.environ.get("ALLY_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def require_redis() -> str:
    """Return the URL of a reachable Redis (database 15 by default)."""
    url = redis_url()
    try:
        import redis
    except ImportError:
        _unavailable("the redis package is not installed")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError) as exc:
        _unavailable(f"Redis is not reachable at {url}: {exc}")
    return url


def require_chromium() -> str:
    """Return the path of the Chromium executable the browser tests drive."""
    path = os.environ.get("ALLY_TEST_CHROMIUM", DEFAULT_CHROMIUM)
    found = shutil.which(path)
    if found is None:
        _unavailable(f"Chromium not found at {path} (apt-get install chromium)")
    return found
