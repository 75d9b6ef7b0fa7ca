"""Run one LL-HLS segmenter per live stream, and let HTTP requests wait for new parts.

:class:`HlsService` listens to the hub: when a stream goes live it attaches an
:class:`HlsMuxer` (a hub reader of kind ``"hls"`` feeding a :class:`Segmenter`); when the
stream goes offline the muxer ends and is forgotten. A publisher reconnect keeps the same
muxer, so viewers stay on the same playlist (the segmenter writes the discontinuity).

Slow consumers: the muxer only does in-memory work per unit, so its reader drains as fast
as the loop runs; if the loop stalls long enough for the reader buffer to overflow, the
hub skips it to the next keyframe (see :mod:`media.reader`). HTTP clients never hold a
buffer: a waiting request is a callback (:meth:`HlsMuxer.watch`) called once on the next
change, no task and no queue of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from media.errors import StreamEnded
from media.hls.segmenter import Segmenter, SegmenterConfig
from media.hub import Hub, Stream, StreamState

log = logging.getLogger(__name__)

Elsewhere = Callable[[web.Request, str, str], Awaitable["web.StreamResponse | None"]]
"""``elsewhere(request, slug, name)``: the answer for a room held by another node, or None."""

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
WAKE_BATCH = 64
"""Watchers called in one turn of the loop when a muxer changes (see ``HlsMuxer._wake``)."""


@dataclass(frozen=True, slots=True)
class PlaylistAsked:
    """A playlist request answered 200 (``HlsService.on_playlist``): who asked, and when."""

    slug: str
    arrived: float
    """Epoch seconds the request arrived (a blocking reload then waited for its part)."""
    token: str | None
    """The viewing token that admitted it, else the ``vt`` query it carried, if any."""
    user_agent: str
    cookie: str
    remote: str


def instance_prefix(started_at: float) -> str:
    """A short name prefix unique to one stream instance (base-36 milliseconds)."""
    value, out = int(started_at * 1000), ""
    while value:
        value, digit = divmod(value, 36)
        out = _DIGITS[digit] + out
    return (out or "0") + "-"


class HlsMuxer:
    """One stream's segmenter, fed by its own hub reader in a task."""

    def __init__(
        self, stream: Stream, config: SegmenterConfig | None, clock: Callable[[], float]
    ) -> None:
        self.stream = stream
        self.segmenter = Segmenter(config, prefix=instance_prefix(stream.started_at))
        self._clock = clock
        self._watchers: list[Callable[[], None]] = []
        self._waking: deque[Callable[[], None]] = deque()
        """Watchers of the last changes not called yet (:meth:`_wake`, a batch per loop turn)."""
        self._draining = False
        self._reader = stream.add_reader("hls")
        self.closed = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"hls {stream.slug}")

    async def _run(self) -> None:
        try:
            while True:
                changed = self.segmenter.push(await self._reader.read(), self._clock())
                while (more := self._reader.read_nowait()) is not None:
                    changed = self.segmenter.push(more, self._clock()) or changed
                if changed:
                    self._wake()
        except StreamEnded:
            pass
        except Exception:
            log.exception("HLS muxer of %s failed", self.stream.slug)
        finally:
            self.closed = True
            self._reader.close()
            self._wake()

    def _wake(self) -> None:
        """Call the watchers, :data:`WAKE_BATCH` at a time: between two batches the loop reads
        and answers what came meanwhile (the part requests of the viewers woken first), so a
        change that wakes thousands of blocking reloads does not hold every other answer for
        as long as all of them take."""
        self._waking.extend(self._watchers)
        self._watchers = []
        if not self._draining:
            self._draining = True
            self._wake_some()

    def _wake_some(self) -> None:
        waking = self._waking
        for _ in range(min(WAKE_BATCH, len(waking))):
            watcher = waking.popleft()
            try:
                watcher()
            except Exception:
                log.exception("an LL-HLS waiter of %s failed", self.stream.slug)
        if waking:
            asyncio.get_running_loop().call_soon(self._wake_some)
        else:
            self._draining = False

    def watch(self, watcher: Callable[[], None]) -> None:
        """Call ``watcher()`` once, at the next change (a new part or segment, or the end of
        the stream: then :attr:`closed` is true). It must not block; it may watch again."""
        self._watchers.append(watcher)

    async def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` is true (re-checked on each new part); False on timeout
        or when the stream ended first."""
        if ready():
            return True
        if self.closed:
            return False
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()

        def check() -> None:
            if done.done():
                return
            if ready():
                done.set_result(True)
            elif self.closed:
                done.set_result(False)
            else:
                self.watch(check)

        def expire() -> None:
            if not done.done():
                done.set_result(False)

        timer = loop.call_later(timeout, expire)
        self.watch(check)
        try:
            return await done
        finally:
            timer.cancel()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class HlsService:
    """The muxers of every live stream of one hub."""

    def __init__(
        self,
        hub: Hub,
        config: SegmenterConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock = clock
        self._muxers: dict[str, HlsMuxer] = {}
        self.elsewhere: Elsewhere | None = None
        """Asked for the rooms whose stream this hub does not hold (an LL-HLS edge,
        media.hls.edge); None from it, or no ``elsewhere``, answers as for an offline room."""
        self.on_playlist: Callable[[PlaylistAsked], None] | None = None
        """Told of every playlist answered 200 (here, through the edge or on the fast path),
        with the time the request arrived (a blocking reload waits for its part: the player
        was watching): the server counts LL-HLS viewers with it (server.analytics). Must not
        block."""
        self._unsubscribe = hub.on_state_change(self._on_state)
        for stream in hub:
            self._on_state(stream)

    def get(self, slug: str) -> HlsMuxer | None:
        return self._muxers.get(slug)

    def _on_state(self, stream: Stream) -> None:
        muxer = self._muxers.get(stream.slug)
        if stream.state is StreamState.OFFLINE:
            if muxer is not None and muxer.stream is stream:
                del self._muxers[stream.slug]
            return
        if muxer is None or muxer.stream is not stream:
            self._muxers[stream.slug] = HlsMuxer(stream, self.config, self._clock)

    async def close(self) -> None:
        self._unsubscribe()
        muxers = list(self._muxers.values())
        self._muxers.clear()
        for muxer in muxers:
            await muxer.close()
