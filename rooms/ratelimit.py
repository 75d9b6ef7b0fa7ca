"""Token buckets, Sans-I/O: the current time is passed in, nothing sleeps.

A bucket holds at most ``capacity`` tokens and refills ``capacity`` tokens every
``per_s`` seconds, continuously. Each accepted message takes one token; an empty bucket
refuses and says how long until the next token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    capacity: int
    per_s: float

    @property
    def refill_per_s(self) -> float:
        return self.capacity / self.per_s


FAN_RATE = Rate(20, 30.0)
STAFF_RATE = Rate(100, 30.0)


class TokenBucket:
    __slots__ = ("rate", "tokens", "updated")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.capacity)
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.rate.capacity), self.tokens + elapsed * self.rate.refill_per_s)
        self.updated = max(self.updated, now)

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def retry_after(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate.refill_per_s)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.rate.capacity


class Buckets:
    """One bucket per key, created full on first use; idle (full) buckets are pruned."""

    def __init__(self, prune_above: int = 4096) -> None:
        self._buckets: dict[int, TokenBucket] = {}
        self._prune_above = prune_above

    def __len__(self) -> int:
        return len(self._buckets)

    def get(self, key: int, rate: Rate, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate:
            if len(self._buckets) >= self._prune_above:
                self._prune(now)
            bucket = self._buckets[key] = TokenBucket(rate, now)
        return bucket

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]
