"""Edge relays: WHEP viewers of a room whose ingest another node holds, served from here.

When a WHEP offer arrives for a room this node's hub does not hold, :class:`EdgeRelays`
asks ``locate(slug)`` (the room directory) for the node that does, and takes the room's
media from it **once** (:mod:`media.webrtc.pull`, over a WebSocket carrying
:mod:`media.webrtc.pullwire` messages, credentialed by ``credential(slug)``) into a hub of
its own, :attr:`EdgeRelays.hub` (the room's Opus as the stream's derived Opus track, which the
relay supplies, so no bridge runs here). This node's WHEP viewers read that hub as they would
the ingest's. Rules:

* **One relay per room, whatever the viewers.** The first viewer starts it, every later one
  shares it; it stops when its last viewer's session ends (:meth:`EdgeRelays.release`).
  ``nal_webrtc_edge_relays`` counts the relays running here.
* **Apart from this node's own streams.** The relays' hub is not the one the server listens
  to: a relayed room is never "live here" for the room directory, LL-HLS, recordings,
  restreams or room events. (LL-HLS from a node without the ingest is
  :mod:`media.hls.edge`'s.)
* **The same media.** Tracks, timestamps, keyframe flags and the GOP cache are the origin's
  (exact, over TCP): a new viewer starts on the GOP as at the origin, or, when the origin's
  publisher makes keyframes on demand (WHIP), on the next one, which it asks for.
* **Keyframes.** A viewer that waits for a keyframe or sends a PLI makes the relay send
  ``KEYFRAME`` to the origin, at most every :data:`KEYFRAME_INTERVAL_S`; the origin limits
  again per pull and passes it to the publisher.
* **Slow viewers** are slow readers of the relay's hub: they skip to the next keyframe, the
  relay never waits for them (the relay's socket reads never block on a viewer).
* **The end.** When the origin's stream ends or the pull breaks, the relay's stream goes
  offline here (its viewers' tracks end, as at the origin) and the relay is forgotten; the
  next viewer starts a new one, from wherever the directory then points.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
from prometheus_client import Counter, Gauge

from media.errors import UsageError
from media.hub import Hub, Stream
from media.units import Codec
from media.webrtc import pullwire
from media.webrtc.bridge import opus_unit
from media.webrtc.errors import PullRefused, WireError

log = logging.getLogger(__name__)

Locate = Callable[[str], Awaitable["str | None"]]
"""``locate(slug)``: the base URL of the node holding the room's ingest when it is another
one, else None."""
Credential = Callable[[str], dict[str, str]]
"""``credential(slug)``: the headers that let this node pull ``slug`` from another."""

KEYFRAME_INTERVAL_S = 0.5
READY_TIMEOUT_S = 10.0
"""Seconds a viewer waits for the origin's first stream header before it is refused."""
MAX_MESSAGE = 16 * 1024 * 1024
HEARTBEAT_S = 15.0

RELAYS = Gauge("nal_webrtc_edge_relays", "Rooms this node relays from their origin for its WHEP viewers.")
RELAYS_TOTAL = Counter("nal_webrtc_edge_relays_ended_total", "Edge relays that ended here, by how they ended.", ["result"])


class EdgeRelay:
    """One room taken from its origin into :attr:`EdgeRelays.hub` (see the module docstring)."""

    def __init__(self, relays: EdgeRelays, slug: str, origin: str) -> None:
        self.slug = slug
        self.origin = origin
        self.source = f"edge:{origin}"
        self.viewers = 0
        self.on_demand = False
        """Whether the origin's publisher makes keyframes when asked (WHIP)."""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(_retrieved)  # a failure nobody waits for any more is no error
        self.ended = False
        self._relays = relays
        self._stream: Stream | None = None
        self._session = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._last_keyframe = float("-inf")
        self.keyframes_sent = 0

    @property
    def hub(self) -> Hub:
        return self._relays.hub

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"edge relay {self.slug}")

    def request_keyframe(self) -> None:
        """A viewer here wants a keyframe: ask the origin, at most every interval."""
        now = time.monotonic()
        if self._ws is None or self._ws.closed or now - self._last_keyframe < KEYFRAME_INTERVAL_S:
            return
        self._last_keyframe = now
        self.keyframes_sent += 1
        task = asyncio.get_running_loop().create_task(self._ws.send_bytes(bytes(pullwire.KeyframeRequest())))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def stop(self) -> None:
        """The last viewer left (or shutdown): end the relayed stream and forget the relay at
        once (a viewer arriving meanwhile starts a new one), then hang up."""
        self._close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        result = "ended"
        try:
            await self._pull()
        except asyncio.CancelledError:
            result = "stopped"
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, WireError) as exc:
            result = "failed"
            log.warning("edge relay of %s from %s: %s", self.slug, self.origin, exc)
            if not self.ready.done():
                self.ready.set_exception(PullRefused(f"the origin of room {self.slug!r} refused or failed: {exc}"))
        finally:
            self._end(result)

    async def _pull(self) -> None:
        session = self._relays.session()
        url = self.origin + pullwire.PATH.format(slug=self.slug)
        async with session.ws_connect(url, headers=self._relays.credential(self.slug), heartbeat=HEARTBEAT_S,
                                      max_msg_size=MAX_MESSAGE, autoping=True) as ws:
            self._ws = ws
            log.info("edge relay of %s from %s started", self.slug, self.origin)
            async for message in ws:
                if message.type is aiohttp.WSMsgType.BINARY:
                    self._on_message(pullwire.parse(message.data))
        if not self.ready.done():
            self.ready.set_exception(PullRefused(f"room {self.slug!r} went offline at its origin"))

    def _on_message(self, message: pullwire.Message) -> None:
        if self.ended:
            return
        if isinstance(message, pullwire.Header):
            self._on_header(message)
        elif isinstance(message, pullwire.UnitMessage):
            if self._stream is not None:
                try:
                    self._stream.write(message.unit)
                except UsageError as exc:
                    log.warning("edge relay of %s: %s", self.slug, exc)
        elif isinstance(message, pullwire.OpusPacket) and self._stream is not None:
            self._stream.write_derived(Codec.OPUS, opus_unit(message.payload, message.pts))

    def _on_header(self, message: pullwire.Header) -> None:
        header = message.header
        self.on_demand = message.on_demand
        if self._stream is None or header.session != self._session:
            self._stream = self.hub.start_publish(self.slug, self.source, header.tracks,
                                                  replace=self._stream is not None, derived=(Codec.OPUS,))
            self._session = header.session
        else:
            for track in header.tracks:
                self._stream.set_track(track)
        if not self.ready.done():
            self.ready.set_result(None)

    def _end(self, result: str) -> None:
        RELAYS_TOTAL.labels(result).inc()
        self._close()
        log.info("edge relay of %s from %s %s", self.slug, self.origin, result)

    def _close(self) -> None:
        """Synchronous and idempotent: the relay's stream ends here and the relay is forgotten."""
        self.ended = True
        if not self.ready.done():
            self.ready.set_exception(PullRefused(f"the relay of room {self.slug!r} stopped"))
        stream, self._stream = self._stream, None
        if stream is not None and self.hub.get(self.slug) is stream:
            self.hub.stop(self.slug)
        self._relays._forget(self)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class EdgeRelays:
    """Every edge relay of this node (see the module docstring)."""

    def __init__(self, locate: Locate, credential: Credential) -> None:
        self.hub = Hub(reconnect_grace=0)
        self.credential = credential
        self._locate = locate
        self._relays: dict[str, EdgeRelay] = {}
        self._session: aiohttp.ClientSession | None = None

    def relay(self, slug: str) -> EdgeRelay | None:
        return self._relays.get(slug)

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=5.0))
        return self._session

    async def acquire(self, slug: str) -> EdgeRelay | None:
        """The room's relay, started if need be, once it has the origin's stream header;
        None when no other node holds the room. Raises :class:`PullRefused` when the
        origin refuses or fails. Each relay returned is given back with :meth:`release`."""
        relay = self._relays.get(slug)
        if relay is None:
            origin = await self._locate(slug)
            if origin is None:
                return None
            relay = self._relays.get(slug)  # another viewer may have started it meanwhile
            if relay is None:
                relay = self._relays[slug] = EdgeRelay(self, slug, origin)
                RELAYS.inc()
                relay.start()
        relay.viewers += 1
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await asyncio.shield(relay.ready)
        except BaseException as exc:
            await self.release(relay)
            if isinstance(exc, TimeoutError):
                raise PullRefused(f"no media for room {slug!r} from its origin in {READY_TIMEOUT_S:g} s") from exc
            raise
        return relay

    async def release(self, relay: EdgeRelay) -> None:
        """A viewer of ``relay`` left; the last one stops it."""
        relay.viewers -= 1
        if relay.viewers <= 0 and not relay.ended:
            await relay.stop()

    async def close(self) -> None:
        for relay in list(self._relays.values()):
            await relay.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _forget(self, relay: EdgeRelay) -> None:
        if self._relays.get(relay.slug) is relay:
            del self._relays[relay.slug]
            RELAYS.dec()
