"""A throttle for repeated authentication failures from one address, pure.

Rules: an address that fails ``max_failures`` times within ``window_s`` seconds
is blocked for ``block_s`` seconds from its last failure.  A success clears the
address.  At most ``max_addresses`` are remembered; the least recently touched
is forgotten first, so a flood of addresses cannot grow memory.  Time is passed
in (seconds, any monotonic clock).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Record:
    window_start: float
    failures: int
    blocked_until: float


class FailureThrottle:
    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        block_s: float = 300.0,
        max_addresses: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.block_s = block_s
        self.max_addresses = max_addresses
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def is_blocked(self, address: str, now: float) -> bool:
        record = self._records.get(address)
        return record is not None and now < record.blocked_until

    def record_failure(self, address: str, now: float) -> bool:
        """Count a failure; return True if the address is now blocked."""
        record = self._records.pop(address, None)
        if record is None or now - record.window_start > self.window_s:
            record = _Record(now, 0, record.blocked_until if record else 0.0)
        record.failures += 1
        if record.failures >= self.max_failures:
            record.blocked_until = now + self.block_s
        self._records[address] = record
        while len(self._records) > self.max_addresses:
            self._records.popitem(last=False)
        return now < record.blocked_until

    def record_success(self, address: str) -> None:
        self._records.pop(address, None)
