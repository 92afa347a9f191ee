"""A token bucket: at most `rate` events a second on average, `burst` at once."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """Refills continuously; each allowed event takes one token."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def allow(self, now: float) -> bool:
        """Take a token at time `now` (seconds); False when the bucket is empty."""
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Buckets:
    """One token bucket per key (a user), made on first use; thread-safe."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[object, TokenBucket] = {}
        self._lock = threading.Lock()

    def allow(self, key: object, now: float) -> bool:
        """Take one of `key`'s tokens at time `now` (seconds)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
            return bucket.allow(now)

    def clear(self) -> None:
        """Forget every key's bucket (all start full again)."""
        with self._lock:
            self._buckets.clear()
