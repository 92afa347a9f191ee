"""The room's per-user token buckets: in process without Redis, shared by every
process through Redis with it, and never failing a handler when Redis is away."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from ally.extensions import shared_redis
from ally.services import rate_buckets
from ally.services.rate_buckets import KEY_PREFIX, buckets
from tests.support.live_server import free_port
from tests.support.services import _unavailable, require_redis

WAIT = 10.0


def wait_for(what: str, check: Callable[[], object]) -> object:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + WAIT
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT:.0f} s waiting for {what}")
        time.sleep(0.01)


def takes(app: Flask, bucket, user: int, times: int) -> list[bool]:
    """`times` calls of allow for `user`, in `app`'s context."""
    with app.app_context():
        return [bucket.allow(user, time.monotonic()) for _ in range(times)]


def test_without_redis_the_buckets_are_this_processs_and_follow_now(make_app):
    app = make_app()
    bucket = buckets("test-local", rate=2.0, burst=3.0)
    with app.app_context():
        assert [bucket.allow(1, 100.0) for _ in range(4)] == [True] * 3 + [False]
        assert bucket.allow(2, 100.0)  # another user has their own
        assert not bucket.allow(1, 100.4)  # 0.8 of a token back: not yet
        assert bucket.allow(1, 100.5)
        bucket.clear()
        assert [bucket.allow(1, 100.5) for _ in range(3)] == [True] * 3
    # Outside any app (a script, a test without a context): in process too.
    assert buckets("test-bare", rate=1.0, burst=1.0).allow(1, 0.0)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis, with no bucket left behind by an earlier run."""
    url = require_redis()
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{KEY_PREFIX}:test-*"):
            client.delete(key)
        yield url
    finally:
        client.close()


@pytest.fixture
def two_processes(make_app, redis_url) -> Iterator[tuple[Flask, Flask]]:
    """Two apps on the same Redis, as two web processes would be."""
    apps = (
        make_app(SOCKETIO_MESSAGE_QUEUE=redis_url),
        make_app(SOCKETIO_MESSAGE_QUEUE=redis_url),
    )
    yield apps
    for app in apps:
        client = shared_redis(app)
        if client is not None:
            client.close()


@pytest.mark.redis
def test_two_processes_take_from_the_same_users_bucket(two_processes):
    first, second = two_processes
    bucket = buckets("test-shared", rate=0.01, burst=5.0)
    assert takes(first, bucket, 7, 3) == [True] * 3
    assert takes(second, bucket, 7, 3) == [True, True, False]
    assert takes(first, bucket, 7, 1) == [False]
    # Another user, and the same user under another bucket name, are apart.
    assert takes(second, bucket, 8, 1) == [True]
    other = buckets("test-other", rate=0.01, burst=1.0)
    assert takes(first, other, 7, 2) == [True, False]
    # Neither process counted anything of its own.
    assert bucket.local._buckets == {}


@pytest.mark.redis
def test_a_users_key_expires_once_the_bucket_would_be_full(two_processes):
    first, _ = two_processes
    bucket = buckets("test-expiry", rate=4.0, burst=8.0)
    takes(first, bucket, 7, 1)
    with first.app_context():
        client = shared_redis(first)
        ttl = client.pttl(f"{KEY_PREFIX}:test-expiry:7")
    # 8 tokens at 4 a second: full in 2 s, gone a second after that.
    assert 2000 < ttl <= 3000


@pytest.mark.redis
def test_tokens_come_back_at_the_rate(two_processes):
    first, second = two_processes
    bucket = buckets("test-refill", rate=20.0, burst=2.0)
    assert takes(first, bucket, 7, 3) == [True, True, False]
    # A token is back within 50 ms; whichever process asks gets it.
    wait_for("a token back", lambda: takes(second, bucket, 7, 1) == [True])


@pytest.mark.redis
def test_concurrent_takes_never_exceed_the_burst(two_processes):
    bucket = buckets("test-race", rate=0.001, burst=50.0)
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer(app: Flask) -> None:
        got = takes(app, bucket, 7, 40)
        with lock:
            allowed.extend(got)

    threads = [
        threading.Thread(target=hammer, args=(app,))
        for app in two_processes
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 240
    assert allowed.count(True) == 50


@pytest.mark.redis
def test_clear_empties_the_shared_buckets(two_processes):
    first, second = two_processes
    bucket = buckets("test-clear", rate=0.01, burst=1.0)
    assert takes(first, bucket, 7, 2) == [True, False]
    with second.app_context():
        bucket.clear()
    assert takes(first, bucket, 7, 1) == [True]


class OwnRedis:
    """A redis-server of this test's own, to stop and start mid-session."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not installed")
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:

            def answers() -> bool:
                try:
                    return bool(client.ping())
                except redis.RedisError:
                    return False

            wait_for("redis-server to answer", answers)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=WAIT)


@pytest.mark.redis
def test_a_redis_that_goes_away_counts_here_logs_once_and_comes_back(
    make_app, tmp_path, caplog, monkeypatch
):
    own = OwnRedis(tmp_path)
    own.start()
    app = make_app(SOCKETIO_MESSAGE_QUEUE=own.url)
    monkeypatch.setattr(rate_buckets, "RETRY_SECONDS", 0.05)
    bucket = buckets("test-outage", rate=0.01, burst=3.0)
    try:
        assert takes(app, bucket, 7, 1) == [True]  # in Redis
        own.stop()
        with caplog.at_level(logging.INFO, logger=rate_buckets.__name__):
            # Never an exception into the handler: this process counts alone
            # (its own burst of 3 for user 7), and says so once.
            assert takes(app, bucket, 7, 5) == [True] * 3 + [False] * 2
            assert takes(app, bucket, 8, 1) == [True]
            own.start()
            # Redis is asked again: a new user's bucket appears there.
            fresh = iter(range(100, 10_000))
            probe = redis.Redis(port=own.port)

            def asked() -> bool:
                user = next(fresh)
                takes(app, bucket, user, 1)
                return bool(probe.exists(f"{KEY_PREFIX}:test-outage:{user}"))

            try:
                wait_for("Redis to be asked again", asked)
            finally:
                probe.close()
            # The restarted Redis (no persistence) starts user 7 full again.
            assert takes(app, bucket, 7, 4) == [True] * 3 + [False]
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 2, messages
        assert messages[0].startswith(
            "rate buckets test-outage: Redis did not answer ("
        )
        assert messages[1] == "rate buckets test-outage: Redis answers again; shared"
    finally:
        shared_redis(app).close()
        own.stop()


# --- Flask-Limiter (the login and token endpoints) ------------------------------

WRONG_LOGIN = {"email": "nobody@example.com", "password": "wrong-password"}


def test_limits_are_counted_in_memory_without_redis(make_app):
    assert make_app().config["RATELIMIT_STORAGE_URI"] == "memory://"
    explicit = make_app(
        SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:6379/0",
        RATELIMIT_STORAGE_URI="memory://",
    )
    assert explicit.config["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.redis
def test_limits_are_counted_in_the_message_queues_redis(make_app, redis_url):
    app = make_app(
        SOCKETIO_MESSAGE_QUEUE=redis_url,
        RATELIMIT_ENABLED=True,
        ALLY_AUTH_RATE_LIMIT="3 per minute",
    )
    assert app.config["RATELIMIT_STORAGE_URI"] == redis_url
    with app.app_context():
        from ally.extensions import limiter

        limiter.reset()
    statuses = [
        app.test_client().post("/api/v1/auth/token", json=WRONG_LOGIN).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match="LIMITS:*"))
    finally:
        client.close()


def test_a_limit_store_that_does_not_answer_never_fails_a_login(make_app):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    app = make_app(
        SOCKETIO_MESSAGE_QUEUE=closed,
        RATELIMIT_ENABLED=True,
        ALLY_AUTH_RATE_LIMIT="3 per minute",
    )
    statuses = [
        app.test_client().post("/api/v1/auth/token", json=WRONG_LOGIN).status_code
        for _ in range(4)
    ]
    # Counted in memory meanwhile: the limit still holds.
    assert statuses == [401, 401, 401, 429]
