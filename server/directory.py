"""The directory of live rooms: which node holds each room's ingest.

Rules:

* A node claims a room before it accepts a publisher for it (RTMP and WHIP). A claim names
  the node by its ``--node-url`` and lives ``ttl_s`` seconds unless refreshed; a room held
  by another node refuses the publisher with the same "already publishing" answer as on
  one node.
* While this node's stream of a room is live and its publisher wrote in the last
  ``takeover_after`` seconds, the claim is refreshed every ``ttl_s / 3`` seconds. When the
  stream goes reconnecting or offline, or its publisher falls silent, the claim is released
  at once: a publisher on another node may then take the room over, as the same key may
  take over a silent publisher on one node (media.rtmp.to_hub, media.webrtc.session).
* A node that finds its claim taken by another node (its own publisher silent or gone and a
  new one accepted elsewhere) ends its own stream of the room (``on_lost``): the room has
  one publisher in the whole cluster, and this node's LL-HLS then pulls from the new one.
* SIGTERM drain releases every claim of this node (the ``directory`` lifecycle part stops
  with the intake).

:class:`MemoryDirectory` serves one process; :class:`RedisDirectory` a cluster (a key per
room, ``PREFIX:live:ROOM`` = node URL with a PX expiry; claim and release are Lua scripts,
so no two nodes can both hold a room).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as aioredis
from prometheus_client import Counter

from media.hub import Hub, StreamState

log = logging.getLogger("notalabel.directory")

CLAIMS = Counter("nal_directory_claims_total", "Room directory claims by this node.", ["result"])


class RoomDirectory(Protocol):
    async def claim(self, slug: str, node: str, ttl_s: float) -> str | None:
        """Hold ``slug`` for ``node`` (new, or refreshed); None when ``node`` holds it now,
        else the node that does."""

    async def release(self, slug: str, node: str) -> None:
        """Drop ``slug`` if ``node`` holds it."""

    async def lookup(self, slug: str) -> str | None:
        """The node holding ``slug``, or None."""


class MemoryDirectory:
    """One process's directory; expiry is checked on read with ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}

    async def claim(self, slug: str, node: str, ttl_s: float) -> str | None:
        holder = await self.lookup(slug)
        if holder is not None and holder != node:
            return holder
        self._held[slug] = (node, self._clock() + ttl_s)
        return None

    async def release(self, slug: str, node: str) -> None:
        if slug in self._held and self._held[slug][0] == node:
            del self._held[slug]

    async def lookup(self, slug: str) -> str | None:
        entry = self._held.get(slug)
        if entry is None or entry[1] <= self._clock():
            self._held.pop(slug, None)
            return None
        return entry[0]


_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisDirectory:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def key(self, slug: str) -> str:
        return f"{self._prefix}:live:{slug}"

    async def claim(self, slug: str, node: str, ttl_s: float) -> str | None:
        holder = await self._claim(keys=[self.key(slug)], args=[node, max(1, int(ttl_s * 1000))])
        return _text(holder)

    async def release(self, slug: str, node: str) -> None:
        await self._release(keys=[self.key(slug)], args=[node])

    async def lookup(self, slug: str) -> str | None:
        return _text(await self._redis.get(self.key(slug)))


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class DirectoryAgent:
    """This node's claims: the ingest gate (:meth:`claim`) and one task that refreshes and
    releases them (see the module docstring)."""

    def __init__(
        self,
        directory: RoomDirectory,
        node: str,
        hub: Hub,
        on_lost: Callable[[str], Awaitable[object]],
        *,
        ttl_s: float = 6.0,
        takeover_after: float = 2.0,
    ) -> None:
        self.directory = directory
        self.node = node
        self._hub = hub
        self._on_lost = on_lost
        self._ttl = ttl_s
        self._takeover_after = takeover_after
        self._held: dict[str, float] = {}  # slug -> monotonic time of the gate's claim
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._unsubscribe = hub.on_state_change(lambda _stream: self._wake.set())

    async def claim(self, slug: str) -> bool:
        """Hold ``slug`` for this node; False when another node holds it (refuse)."""
        try:
            holder = await self.directory.claim(slug, self.node, self._ttl)
        except Exception:  # noqa: BLE001 - Redis down: refuse rather than risk two publishers
            log.exception("room directory claim of %s failed", slug)
            CLAIMS.labels("error").inc()
            return False
        if holder is not None:
            CLAIMS.labels("held_elsewhere").inc()
            log.info("publisher for %s refused: live on %s", slug, holder)
            return False
        CLAIMS.labels("ok").inc()
        self._held[slug] = time.monotonic()
        self._wake.set()
        return True

    async def lookup(self, slug: str) -> str | None:
        """The node holding ``slug`` when it is another one, else None."""
        holder = await self.directory.lookup(slug)
        return holder if holder != self.node else None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="room directory")

    async def close(self) -> None:
        """Stop refreshing and release every claim (SIGTERM drain, shutdown)."""
        self._unsubscribe()
        self._closing = True
        self._wake.set()
        if self._task is not None:
            # The loop ends at the flag: redis-py may swallow a cancel that arrives during a
            # command, so a cancel alone could leave the loop running.
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for slug in list(self._held):
            await self._release(slug)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ttl / 3):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            for slug in list(self._held):
                try:
                    await self._tend(slug)
                except Exception:  # noqa: BLE001 - Redis hiccup: the next round retries
                    log.exception("room directory refresh of %s failed", slug)

    async def _tend(self, slug: str) -> None:
        if self._active(slug):
            holder = await self.directory.claim(slug, self.node, self._ttl)
        else:
            await self.directory.release(slug, self.node)
            if self._hub.get(slug) is None:
                self._held.pop(slug, None)
                return
            # Silent or reconnecting here: watched until it ends, comes back or moves.
            holder = await self.lookup(slug)
        if holder is not None:
            self._held.pop(slug, None)
            log.warning("room %s was taken over by %s; ending the stream here", slug, holder)
            await self._on_lost(slug)

    def _active(self, slug: str) -> bool:
        """Live with a publisher that wrote lately, or claimed a moment ago by the gate and
        still connecting (a WHIP negotiation; media follows a publish)."""
        now = time.monotonic()
        stream = self._hub.get(slug)
        if stream is None:
            return now - self._held.get(slug, 0.0) < self._ttl
        self._held[slug] = 0.0  # seen: from now on its end releases the claim at once
        return stream.state is StreamState.LIVE and stream.silent_for() < self._takeover_after

    async def _release(self, slug: str) -> None:
        self._held.pop(slug, None)
        await self.directory.release(slug, self.node)
