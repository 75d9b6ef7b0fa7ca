"""Reconnect delays: exponential backoff with full jitter, pure (the random source is passed in).

Attempt ``n`` (1 for the first retry) waits a uniform random time in
``[base * 2**(n-1) / 2, base * 2**(n-1)]``, capped at ``cap``: never zero (so a flapping
server is not hammered), spread (so many targets of one server do not retry in step).
A connection that stayed up for ``stable_after`` seconds resets the count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 1.0
    cap: float = 60.0
    stable_after: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        draw: float = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2
