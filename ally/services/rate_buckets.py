"""Per-user token buckets that every web process shares when Redis is configured.

A room's sockets land on any web process behind the load balancer, and one
user's two tabs (or a reconnect) may sit on two of them: a limit counted per
process would let a user send N times the rate with N processes. With
SOCKETIO_MESSAGE_QUEUE naming a Redis, `buckets(name, rate, burst)` keeps each
user's bucket there, updated by one Lua script (atomic; the key expires once
the bucket would be full again). Without Redis it is the in-process
`domain.rate_limit.Buckets`. Which one is decided at each call, from the
current app's configuration, so a module can make its buckets at import.

A Redis that stops answering mid-session never fails a socket handler: the
bucket falls back to counting in this process (a user under the limit is never
refused), says so once in the log, and tries Redis again a second later.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import NoScriptError, RedisError

from ..domain.rate_limit import Buckets
from ..extensions import shared_redis

log = logging.getLogger(__name__)

KEY_PREFIX = "ally:bucket"
# After a failed call, Redis is left alone this long (seconds): a Redis that
# is away costs one timeout a second, not one per message.
RETRY_SECONDS = 1.0

# Redis's own clock, not the caller's `now`: processes' monotonic clocks have
# nothing in common. Numbers go back as strings of fixed precision (a Lua
# number would be cut to 14 digits, the time to a tenth of a millisecond).
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return allowed
"""
TAKE_SHA = hashlib.sha1(TAKE.encode()).hexdigest()


class RedisBuckets:
    """One token bucket per key in Redis, shared by every process using it."""

    def __init__(self, name: str, rate: float, burst: float, client: Redis) -> None:
        self.name, self.rate, self.burst, self.client = name, rate, burst, client
        # A bucket left alone this long is full again: its key can go.
        self.ttl_ms = math.ceil(burst / rate * 1000) + 1000

    def key(self, key: object) -> str:
        """The Redis key of one user's bucket."""
        return f"{KEY_PREFIX}:{self.name}:{key}"

    def allow(self, key: object, now: float | None = None) -> bool:
        """Take one of `key`'s tokens (at Redis's time); RedisError if it fails."""
        args = (self.key(key), self.rate, self.burst, self.ttl_ms)
        try:
            allowed = self.client.evalsha(TAKE_SHA, 1, *args)
        except NoScriptError:  # a restarted Redis has forgotten the script
            allowed = self.client.eval(TAKE, 1, *args)
        return bool(allowed)

    def clear(self) -> None:
        """Forget every key's bucket of this name (all start full again)."""
        names = list(self.client.scan_iter(match=f"{KEY_PREFIX}:{self.name}:*"))
        if names:
            self.client.delete(*names)


class AppBuckets:
    """`Buckets` for the current app: in its Redis when it has one, else here.

    The same interface as `domain.rate_limit.Buckets` (`allow(key, now)`,
    `clear()`); `now` (monotonic seconds) drives the in-process buckets only.
    """

    def __init__(self, name: str, rate: float, burst: float) -> None:
        self.name, self.rate, self.burst = name, rate, burst
        self.local = Buckets(rate, burst)
        self._retry_at = 0.0  # monotonic time before which Redis is not asked
        self._failing = False

    def _shared(self) -> RedisBuckets | None:
        """The current app's Redis buckets, or None (no app or no Redis)."""
        if not has_app_context():
            return None
        app = current_app._get_current_object()
        client = shared_redis(app)
        if client is None:
            return None
        made = app.extensions.setdefault("ally.rate_buckets", {})
        shared = made.get(self.name)
        if shared is None:
            shared = made[self.name] = RedisBuckets(
                self.name, self.rate, self.burst, client
            )
        return shared

    def allow(self, key: object, now: float) -> bool:
        """Take one of `key`'s tokens; never raises for an unreachable Redis."""
        shared = self._shared()
        if shared is None:
            return self.local.allow(key, now)
        if self._failing and time.monotonic() < self._retry_at:
            return self.local.allow(key, now)
        try:
            allowed = shared.allow(key)
        except (RedisError, OSError) as error:
            self._retry_at = time.monotonic() + RETRY_SECONDS
            if not self._failing:
                self._failing = True
                log.warning(
                    "rate buckets %s: Redis did not answer (%s); counting in "
                    "this process until it does",
                    self.name,
                    str(error).splitlines()[0] if str(error) else type(error).__name__,
                )
            return self.local.allow(key, now)
        if self._failing:
            self._failing = False
            log.info("rate buckets %s: Redis answers again; shared", self.name)
        return allowed

    def clear(self) -> None:
        """Forget every bucket, here and (with an app that has one) in Redis."""
        self.local.clear()
        shared = self._shared()
        if shared is not None:
            shared.clear()


def buckets(name: str, rate: float, burst: float) -> AppBuckets:
    """Per-user buckets named `name` (part of the Redis key): `rate` a second
    on average, `burst` at once; shared through Redis where it is configured."""
    return AppBuckets(name, rate, burst)
