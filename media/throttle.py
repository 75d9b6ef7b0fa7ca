"""A throttle for repeated credential failures (RTMP stream keys, WHIP bearer tokens), pure.

Rules:

* Failures are counted per ``(address, scope)``. The scope is what the attempt aimed at: the
  room for WHIP (its URL names the room), :data:`ANY_ROOM` for an RTMP stream key (a wrong
  key names no room, so the wrong keys of one address share one scope).
* ``max_failures`` failures within ``window_s`` seconds block that pair for ``block_s``
  seconds from the failure that reached the count. While blocked, attempts in that scope
  are refused *before* the credential is checked, so a right guess teaches nothing.
* A success clears only its own pair. A success in another scope (the guesser's own key for
  their own room) changes nothing, and other addresses and other rooms are never affected.
* At most ``max_entries`` pairs are remembered; the least recently touched is forgotten
  first, so a flood of addresses cannot grow memory.

Time is passed in (seconds, any monotonic clock). Answers are seconds to wait (0: allowed),
which the adapters turn into ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass

ANY_ROOM = "*"
"""The scope of attempts that name no room (RTMP stream keys)."""


@dataclass(slots=True)
class _Record:
    window_start: float
    failures: int
    blocked_until: float


class FailureThrottle:
    """See the module docstring."""

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        block_s: float = 300.0,
        max_entries: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.block_s = block_s
        self.max_entries = max_entries
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def retry_after(self, address: str, scope: str, now: float) -> float:
        """Seconds until ``address`` may try again in ``scope``; 0 when it may now."""
        record = self._records.get((address, scope))
        return max(0.0, record.blocked_until - now) if record is not None else 0.0

    def is_blocked(self, address: str, scope: str, now: float) -> bool:
        return self.retry_after(address, scope, now) > 0

    def record_failure(self, address: str, scope: str, now: float) -> float:
        """Count a failure; returns :meth:`retry_after` (above 0: the pair is now blocked)."""
        key = (address, scope)
        record = self._records.pop(key, None)
        if record is None or now - record.window_start > self.window_s:
            record = _Record(now, 0, record.blocked_until if record else 0.0)
        record.failures += 1
        if record.failures >= self.max_failures:
            record.blocked_until = now + self.block_s
        self._records[key] = record
        while len(self._records) > self.max_entries:
            self._records.popitem(last=False)
        return max(0.0, record.blocked_until - now)

    def record_success(self, address: str, scope: str) -> None:
        self._records.pop((address, scope), None)


def address_key(address: str) -> str:
    """The unit a per-address limit counts: the address, or its /64 for IPv6 (what one
    subscriber usually holds, so rotating through it gains nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds (RFC 9110 section 10.2.3), never 0 while blocked."""
    return str(max(1, math.ceil(seconds)))
