"""Login throttle, Sans-I/O: token buckets per account and per address, the time passed in.

Rules:

- Every login attempt takes one token from the account's bucket and one from the address's,
  before the password is checked, so concurrent guesses cannot outrun the count.
- An attempt is refused (429, ``Retry-After``) while either bucket is empty, whatever the
  password: the right password after a throttle still waits until it expires.
- A successful login gives both tokens back, so a user who types their password right is
  never slowed by their own successes.
- Buckets refill continuously (``capacity`` tokens per ``per_s`` seconds) and full ones
  are forgotten; at most ``max_keys`` are kept, the oldest dropped first past that.
- A rate of None turns that side off (the operator's ``0``).
"""

from __future__ import annotations

from rooms.ratelimit import Rate, TokenBucket


class KeyedBuckets:
    """One token bucket per string key, bounded in number; a rate of None never refuses."""

    def __init__(self, rate: Rate | None, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def retry_after(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.retry_after(now)

    def take(self, key: str, now: float) -> None:
        if self.rate is None:
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, now)
        bucket.take(now)

    def give_back(self, key: str, now: float) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(float(bucket.rate.capacity), bucket.tokens + 1.0)
            if bucket.full(now):
                del self._buckets[key]

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]
        while len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]


class LoginThrottle:
    """Per account and per address; see the module docstring for the rules."""

    def __init__(self, per_account: Rate | None, per_address: Rate | None, max_keys: int = 100_000) -> None:
        self.accounts = KeyedBuckets(per_account, max_keys)
        self.addresses = KeyedBuckets(per_address, max_keys)

    def attempt(self, account: str, address: str, now: float) -> float:
        """Take a token from both buckets and answer 0, or answer the seconds to wait (taking none)."""
        wait = max(self.accounts.retry_after(account, now), self.addresses.retry_after(address, now))
        if wait > 0:
            return wait
        self.accounts.take(account, now)
        self.addresses.take(address, now)
        return 0.0

    def succeeded(self, account: str, address: str, now: float) -> None:
        self.accounts.give_back(account, now)
        self.addresses.give_back(address, now)
