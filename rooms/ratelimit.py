"""Token buckets, Sans-I/O: the current time is passed in, nothing sleeps.

A bucket holds at most ``capacity`` tokens and refills ``capacity`` tokens every
``per_s`` seconds, continuously. Each accepted message takes one token; an empty bucket
refuses and says how long until the next token. ``refill`` and ``take_one`` are the whole
rule, on plain values, so the Redis script (redislimit.py) can do exactly the same
arithmetic on a bucket that every node shares.

Where buckets live is a ``RateLimiter``: ``MemoryRateLimiter`` here (one process, the
default) or ``RedisRateLimiter`` in redislimit.py (every node of a cluster takes from one
bucket per user and room).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rate:
    capacity: int
    per_s: float

    @property
    def refill_per_s(self) -> float:
        return self.capacity / self.per_s


FAN_RATE = Rate(20, 30.0)
STAFF_RATE = Rate(100, 30.0)


def refill(tokens: float, updated: float, rate: Rate, now: float) -> tuple[float, float]:
    """The bucket's (tokens, updated) at ``now``; a clock going back adds nothing."""
    elapsed = max(0.0, now - updated)
    return min(float(rate.capacity), tokens + elapsed * rate.refill_per_s), max(updated, now)


def take_one(tokens: float, updated: float, rate: Rate, now: float) -> tuple[float, float, float]:
    """Take one token at ``now``: (tokens, updated, wait), ``wait`` 0.0 when one was taken,
    else the seconds until one is (and nothing was taken)."""
    tokens, updated = refill(tokens, updated, rate, now)
    if tokens >= 1.0:
        return tokens - 1.0, updated, 0.0
    return tokens, updated, (1.0 - tokens) / rate.refill_per_s


class TokenBucket:
    __slots__ = ("rate", "tokens", "updated")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.capacity)
        self.updated = now

    def _refill(self, now: float) -> None:
        self.tokens, self.updated = refill(self.tokens, self.updated, self.rate, now)

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        self.tokens, self.updated, wait = take_one(self.tokens, self.updated, self.rate, now)
        return wait == 0.0

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
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._prune_above = prune_above

    def __len__(self) -> int:
        return len(self._buckets)

    def get(self, key: Hashable, rate: Rate, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate:
            if len(self._buckets) >= self._prune_above:
                self._prune(now)
            bucket = self._buckets[key] = TokenBucket(rate, now)
        return bucket

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]


@dataclass(frozen=True)
class Charge:
    """A token an accepted op costs: from ``user_id``'s bucket in the room, at ``rate``."""

    user_id: int
    rate: Rate


class RateLimiter(Protocol):
    """Where the buckets live. ``take`` takes one token from the bucket of ``user_id`` in
    ``room`` (created full on first use, new when the rate changes) and returns 0.0, or
    takes nothing and returns the seconds until a token is available."""

    async def take(self, room: str, user_id: int, rate: Rate) -> float: ...


class MemoryRateLimiter:
    """Buckets in this process (the default for one process)."""

    def __init__(self, clock: Callable[[], float] = time.time, prune_above: int = 4096) -> None:
        self._clock = clock
        self._buckets = Buckets(prune_above)

    def take_now(self, room: str, user_id: int, rate: Rate, now: float) -> float:
        bucket = self._buckets.get((room, user_id), rate, now)
        return 0.0 if bucket.take(now) else bucket.retry_after(now)

    async def take(self, room: str, user_id: int, rate: Rate) -> float:
        return self.take_now(room, user_id, rate, self._clock())
