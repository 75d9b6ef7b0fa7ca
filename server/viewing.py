"""Who is watching on which device: one viewing session per ticket, revocable at once.

A viewing token (``ticketing.tokens``) names its ticket and its device session; it is
honoured only while the registry says that session is the ticket's current one. Opening a
session for a ticket makes it current (a second device takes over, the first one's tokens
stop working); a refund or a transfer revokes the ticket (no current session at all).

The registry is the one place a token check asks besides the signature. In-process by
default: a dict. With Redis (``--redis``) every node shares it: a key per ticket holding
the current session, written on open and revoke; each node caches what it read for
``CACHE_S`` seconds, so a takeover or revocation reaches every node within that time and
a token check costs a Redis round trip at most once per ticket per ``CACHE_S``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.asyncio as aioredis

CACHE_S = 2.0
SESSION_TTL_S = 24 * 3600
REVOKED = "-"


class ViewingRegistry:
    def __init__(self, redis: aioredis.Redis | None = None, prefix: str = "nal",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self._current: dict[str, str] = {}
        self._cache: dict[str, tuple[float, str]] = {}

    def _key(self, ticket_id: str) -> str:
        return f"{self.prefix}:viewing:{ticket_id}"

    async def open(self, ticket_id: str, session: str) -> str | None:
        """Make ``session`` the ticket's current one; the session it took over from, if any."""
        before = await self._read(ticket_id)
        await self._write(ticket_id, session)
        return before if before not in (None, REVOKED, session) else None

    async def revoke(self, ticket_id: str) -> None:
        """No session of this ticket may watch any more (refund, transfer)."""
        await self._write(ticket_id, REVOKED)

    async def current(self, ticket_id: str) -> str | None:
        """The ticket's current session (cached up to ``CACHE_S`` with Redis)."""
        now = self.clock()
        cached = self._cache.get(ticket_id)
        if cached is not None and now - cached[0] < CACHE_S:
            return None if cached[1] == REVOKED else cached[1]
        found = await self._read(ticket_id)
        if self.redis is not None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[ticket_id] = (now, found or REVOKED)
        return None if found in (None, REVOKED) else found

    def current_now(self, ticket_id: str) -> tuple[bool, str | None]:
        """:meth:`current` without waiting: (True, the session) when it is known here (in
        process, or cached from Redis less than ``CACHE_S`` ago), else (False, None)."""
        if self.redis is None:
            return True, self._current.get(ticket_id)
        cached = self._cache.get(ticket_id)
        if cached is not None and self.clock() - cached[0] < CACHE_S:
            return True, None if cached[1] == REVOKED else cached[1]
        return False, None

    async def _read(self, ticket_id: str) -> str | None:
        if self.redis is None:
            return self._current.get(ticket_id)
        raw = await self.redis.get(self._key(ticket_id))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def _write(self, ticket_id: str, session: str) -> None:
        self._cache.pop(ticket_id, None)
        if self.redis is None:
            self._current[ticket_id] = session
            return
        await self.redis.set(self._key(ticket_id), session, ex=SESSION_TTL_S)
