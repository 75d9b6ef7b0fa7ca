"""Sessions this process read lately, so a signed-in request costs no database read.

A session read from the database is kept for ``ttl_s`` seconds (``--session-cache-s``,
default 2; 0 turns the cache off), never past the session's own expiry, at most
``max_entries`` of them (the oldest read goes first). Ending a session (log-out, "end this
session") drops it here at once and, with Redis, on every node: the node publishes the
session's hash on ``{prefix}:sessions:ended`` and every node's reader drops it when the
message arrives. A reader that lost Redis forgets everything it cached when it subscribes
again, so an end it missed is honoured within ``ttl_s`` at the latest, the bound that holds
without Redis too, and with Redis only while its connection is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

V = TypeVar("V")
RETRY_S = 1.0
log = logging.getLogger("notalabel.sessions")


class SessionCache(Generic[V]):
    """token hash -> what a session read found (``V``), for ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float, redis: aioredis.Redis | None = None, prefix: str = "nal",
                 max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.redis = redis
        self.channel = f"{prefix}:sessions:ended"
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, float, V]] = OrderedDict()
        self._reader: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def get(self, hashed: str, now_wall: float) -> V | None:
        """The cached session of ``hashed``: None when not cached, too old, or expired at ``now_wall``."""
        entry = self._entries.get(hashed)
        if entry is None:
            return None
        until, expires_at, value = entry
        if self.clock() >= until or now_wall >= expires_at:
            del self._entries[hashed]
            return None
        return value

    def put(self, hashed: str, value: V, expires_at: float) -> None:
        if self.ttl_s <= 0:
            return
        self._entries[hashed] = (self.clock() + self.ttl_s, expires_at, value)
        self._entries.move_to_end(hashed)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, hashed: str) -> None:
        self._entries.pop(hashed, None)

    async def ended(self, hashed: str) -> None:
        """The session was deleted: forget it here, and on every node with Redis."""
        self.drop(hashed)
        if self.redis is not None and self.ttl_s > 0:
            try:
                await self.redis.publish(self.channel, hashed)
            except (RedisError, OSError) as exc:  # the others forget it within ttl_s anyway
                log.warning("could not tell other nodes a session ended", extra={"error": str(exc)})

    async def start(self) -> None:
        if self.redis is not None and self.ttl_s > 0 and self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="session-cache-reader")

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._read()
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("session cache lost Redis; retrying", extra={"error": str(exc)})
                await asyncio.sleep(RETRY_S)

    async def _read(self) -> None:
        assert self.redis is not None
        pubsub: Any = self.redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            self._entries.clear()  # whatever ended while we were not listening
            self.subscribed.set()
            while True:
                # a bounded wait: the shared client's socket timeout (2 s) must not fire
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message["type"] == "message":
                    data = message["data"]
                    self.drop(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
