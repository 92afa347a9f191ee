"""A token bucket: at most `rate` events a second on average, `burst` at once."""

from __future__ import annotations

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
