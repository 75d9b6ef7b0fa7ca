"""The origin's side of an edge pull: one room's media to one edge node, over one WebSocket.

``GET /internal/edge/{slug}`` (a WebSocket) is how a node that serves WHEP viewers of a room
whose ingest another node holds takes that room's media (:mod:`media.webrtc.edge`). Messages
are :mod:`media.webrtc.pullwire`'s. Rules:

* **Only nodes.** ``authorize(slug, request)`` (the server's check of the cluster credential)
  decides before the upgrade: 401 otherwise, counted under the reason it gives
  (``nal_webrtc_edge_pull_requests_total{result}``). 404 when this node does not hold the room.
* **One pull per edge and room.** An edge pulls a room once however many viewers it has, so
  the origin's cost grows with edges, not with viewers: each pull is one hub reader and one
  reader of the stream's derived Opus (bridged from AAC once per room, as for local viewers).
  ``nal_webrtc_edge_pulls`` counts the pulls served now.
* **The edge first gets** the stream header (with whether the publisher makes keyframes on
  demand) and the GOP cache, then live units, as any reader.
* **A slow edge** is a slow reader: its readers are bounded (:data:`PULL_MAX_UNITS`) and skip
  to the next keyframe when full (:mod:`media.reader`); the publisher and the other readers
  never wait for it.
* **Keyframe requests** (``KEYFRAME`` from the edge: one of its viewers waits for a
  keyframe or sent a PLI) are passed to the room's WHIP publisher at most every
  :data:`KEYFRAME_INTERVAL_S` per pull (the publisher has its own limit across all asks);
  an RTMP publisher cannot make one, and new viewers start from the GOP cache.
* The pull ends when the stream goes offline here (close code 1000, ``offline``), when the
  edge hangs up, or at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web
from prometheus_client import Counter, Gauge

from media.errors import StreamEnded, UsageError
from media.reader import Reader
from media.units import Codec, StreamHeader
from media.webrtc import pullwire
from media.webrtc.bridge import OPUS_READER_MAX_UNITS
from media.webrtc.errors import WireError
from media.webrtc.session import WebRtc

log = logging.getLogger(__name__)

PULL_MAX_UNITS = 1024
KEYFRAME_INTERVAL_S = 0.5
HEARTBEAT_S = 15.0
"""Seconds between pings of an open pull (aiohttp closes it when a pong is half that late):
only for a peer that vanished without closing; a node that exits closes its sockets."""
EDGE_MAX_MESSAGE = 64
"""Bytes an edge's message may have (it only sends keyframe requests)."""

PULLS = Gauge("nal_webrtc_edge_pulls", "Edge pulls this origin serves now (one per edge node and room).")
PULLS_TOTAL = Counter("nal_webrtc_edge_pull_requests_total", "Edge pulls asked of this origin, by result.", ["result"])
KEYFRAMES = Counter("nal_webrtc_edge_keyframe_requests_total",
                    "Keyframe requests from edges, passed to the publisher or held back by the limit.",
                    ["result"])

AuthorizeEdge = Callable[[str, web.Request], Awaitable["str | None"]]
"""``authorize(slug, request)``: None for a node's pull of ``slug``, else why not."""


class Pull:
    """One edge's pull of one room (see the module docstring)."""

    def __init__(self, webrtc: WebRtc, slug: str, ws: web.WebSocketResponse, clock: Callable[[], float]) -> None:
        self.webrtc = webrtc
        self.slug = slug
        self.ws = ws
        self._clock = clock
        self._send = asyncio.Lock()
        self._last_keyframe = float("-inf")

    async def run(self, video: Reader, audio: Reader) -> None:
        pumps = [asyncio.ensure_future(self._pump_hub(video)), asyncio.ensure_future(self._pump_opus(audio))]
        try:
            listen = asyncio.ensure_future(self._listen())
            done, _ = await asyncio.wait([pumps[0], listen], return_when=asyncio.FIRST_COMPLETED)
            listen.cancel()
        finally:
            for task in pumps:
                task.cancel()
            video.close()
            audio.close()
        if pumps[0] in done and not self.ws.closed:
            await self.ws.close(code=1000, message=b"offline")

    def keyframe_wanted(self) -> bool:
        """An edge's ``KEYFRAME``: passed on unless this pull asked within the interval."""
        now = self._clock()
        if now - self._last_keyframe < KEYFRAME_INTERVAL_S:
            KEYFRAMES.labels("limited").inc()
            return False
        self._last_keyframe = now
        KEYFRAMES.labels("forwarded").inc()
        self.webrtc.request_keyframe(self.slug)
        return True

    async def _listen(self) -> None:
        async for message in self.ws:
            if message.type is not WSMsgType.BINARY:
                continue
            try:
                parsed = pullwire.parse(message.data)
            except WireError as exc:
                log.warning("edge pull of %s: %s", self.slug, exc)
                continue
            if isinstance(parsed, pullwire.KeyframeRequest):
                self.keyframe_wanted()

    async def _pump_hub(self, reader: Reader) -> None:
        with contextlib.suppress(StreamEnded, ConnectionError):  # offline here, or the edge is gone
            while True:
                item = await reader.read()
                if isinstance(item, StreamHeader):
                    await self._write(pullwire.Header(item, self.webrtc.keyframes_on_demand(self.slug)))
                else:
                    await self._write(pullwire.UnitMessage(item))

    async def _pump_opus(self, reader: Reader) -> None:
        with contextlib.suppress(StreamEnded, ConnectionError):
            while True:
                item = await reader.read()
                if not isinstance(item, StreamHeader):
                    await self._write(pullwire.OpusPacket(item.pts, item.payload))

    async def _write(self, message: pullwire.Message) -> None:
        async with self._send:
            await self.ws.send_bytes(bytes(message))


def setup_routes(app: web.Application, webrtc: WebRtc, authorize: AuthorizeEdge,
                 clock: Callable[[], float] = time.monotonic) -> None:
    """Add ``GET /internal/edge/{slug}``; pulls still open at shutdown are closed."""
    open_pulls: set[web.WebSocketResponse] = set()

    async def pull(request: web.Request) -> web.StreamResponse:
        slug = request.match_info["slug"]
        refused = await authorize(slug, request)
        if refused is not None:
            PULLS_TOTAL.labels(refused).inc()
            log.warning("edge pull of %s from %s refused: %s", slug, request.remote, refused)
            return web.json_response({"error": "unauthorized", "message": "edge pulls are for nodes"}, status=401)
        stream = webrtc.hub.get(slug)
        if stream is None:
            PULLS_TOTAL.labels("not_live").inc()
            return web.json_response({"error": "offline", "message": f"room {slug!r} is not live here"}, status=404)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=EDGE_MAX_MESSAGE)
        await ws.prepare(request)
        try:
            video = stream.add_reader("edge", max_units=PULL_MAX_UNITS)
            audio = stream.add_reader("edge-audio", derived=Codec.OPUS, max_units=OPUS_READER_MAX_UNITS)
        except UsageError:  # went offline during the upgrade
            PULLS_TOTAL.labels("not_live").inc()
            await ws.close(code=1000, message=b"offline")
            return ws
        PULLS_TOTAL.labels("served").inc()
        PULLS.inc()
        open_pulls.add(ws)
        log.info("edge pull of %s from %s", slug, request.remote)
        try:
            await Pull(webrtc, slug, ws, clock).run(video, audio)
        finally:
            open_pulls.discard(ws)
            PULLS.dec()
            log.info("edge pull of %s from %s ended", slug, request.remote)
        return ws

    async def close_pulls(_app: web.Application) -> None:
        for ws in list(open_pulls):
            await ws.close(code=1001, message=b"shutdown")

    app.router.add_get(pullwire.PATH, pull)
    app.on_shutdown.append(close_pulls)
