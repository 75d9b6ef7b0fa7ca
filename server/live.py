"""Live media wiring: the hub, RTMP ingest, LL-HLS, and stream state into the room.

The hub lives in the process that holds the ingest. Stream state changes go to the router
as :class:`server.router.StreamStateChanged` (which makes them room ``stream.state`` events,
so every node's fans see live/offline) and are served at ``GET /api/rooms/{slug}/stream``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from media.hls.edge import HlsEdge
from media.hls.fastpath import LivePath
from media.hls.http import setup_routes as setup_hls
from media.hub import Hub, Stream
from media.rtmp.server import RtmpServer, ServerConfig
from media.rtmp.to_hub import HubIngest, rtmp_peer
from media.throttle import FailureThrottle
from media.thumbnail import Thumbnails
from media.webrtc import pull, whep, whip
from media.webrtc.config import IceServer, WebRtcSettings
from media.webrtc.edge import EdgeRelays
from media.webrtc.session import WebRtc
from relay.keybox import load_or_create_secret
from server import edgeauth, tickets
from server.access import ShowAccess
from server.config import Settings
from server.directory import DirectoryAgent
from server.errors import NotFound
from server.httputil import json_response, request_id_for
from server.keys import LIVE_PATH, SERVICES
from server.router import Router, StreamStateChanged
from server.store import SqlStore

log = logging.getLogger("notalabel.live")

STREAM_END = "stream.end"
"""Room event: the owner ended the stream (``{"reason": "ended" | "key_rotated"}``); the node
holding the stream ends it (server.reactions)."""


FORWARDED = "X-NAL-Thumbnail-Forwarded"
"""Set on a thumbnail request one node makes to another: the holder answers from its own hub
and never forwards again (no loop while the directory changes hands)."""


class RemoteStills:
    """The room list's thumbnails of rooms held by another node (server.directory): fetched
    from the holder's ``/api/rooms/{slug}/thumbnail.jpg`` and kept here ``interval_s`` (a miss,
    such as no keyframe yet, at most ``MISS_S``), one fetch at a time per room however many
    ask; the holder decodes once per interval. Each ask looks the holder up again: once no
    node holds the room, or another one does, the kept still is not served."""

    MISS_S = 2.0

    def __init__(self, locate: Callable[[str], Awaitable[str | None]], *, interval_s: float,
                 timeout_s: float = 5.0) -> None:
        self._locate = locate
        self._interval = interval_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._kept: dict[str, tuple[str, float, bytes | None]] = {}  # slug -> (origin, until, jpeg)
        self._inflight: dict[tuple[str, str], asyncio.Task[bytes | None]] = {}

    async def jpeg(self, slug: str) -> bytes | None:
        origin = await self._locate(slug)
        if origin is None:
            self._kept.pop(slug, None)
            return None
        kept = self._kept.get(slug)
        if kept is not None and kept[0] == origin and kept[1] > time.monotonic():
            return kept[2]
        task = self._inflight.get((slug, origin))
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(slug, origin))
            self._inflight[slug, origin] = task
            task.add_done_callback(lambda _t: self._inflight.pop((slug, origin), None))
        return await asyncio.shield(task)

    async def _fetch(self, slug: str, origin: str) -> bytes | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        jpeg: bytes | None = None
        try:
            async with self._session.get(f"{origin}/api/rooms/{slug}/thumbnail.jpg", headers={FORWARDED: "1"}) as r:
                body = await r.read() if r.status == 200 else b""
            jpeg = body if body.startswith(b"\xff\xd8\xff") else None
        except (aiohttp.ClientError, TimeoutError):
            log.warning("thumbnail of %s from %s failed", slug, origin)
        if len(self._kept) > 10_000:
            self._kept.clear()
        keep = self._interval if jpeg is not None else min(self._interval, self.MISS_S)
        self._kept[slug] = (origin, time.monotonic() + keep, jpeg)
        return jpeg

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        if self._session is not None:
            await self._session.close()


def offline_state(slug: str) -> dict[str, Any]:
    return {"slug": slug, "state": "offline"}


class Live:
    """Owns the hub and the RTMP listener of this process."""

    def __init__(self, settings: Settings, store: SqlStore, router: Router) -> None:
        self.settings = settings
        self.store = store
        self.router = router
        self.hub = Hub(reconnect_grace=settings.reconnect_grace_s)
        self.thumbnails = Thumbnails(self.hub, interval_s=settings.thumbnail_interval_s,
                                     width=settings.thumbnail_width)
        self.rtmp: RtmpServer | None = None
        self.webrtc: WebRtc | None = None
        self.directory: DirectoryAgent | None = None
        self.remote_stills = RemoteStills(self.locate, interval_s=settings.thumbnail_interval_s)
        self._moved: set[str] = set()
        """The room directory (server.services sets it); without it this node claims every room."""
        # One throttle for both ingests: RTMP counts wrong keys per address, WHIP per
        # (address, room); see media.throttle.
        self.throttle = FailureThrottle(settings.publish_key_failures, block_s=settings.publish_key_block_s)
        self.hub.on_state_change(self._state_changed)

    async def resolve_key(self, stream_key: str) -> str | None:
        row = await self.store.room_by_stream_key(stream_key)
        return row.slug if row else None

    async def authorize_publisher(self, slug: str, stream_key: str) -> bool:
        """The room's stream key, or a publish ticket its owner's session minted (api_publish)."""
        if stream_key.startswith(tickets.PUBLISH):
            who = await tickets.redeem(self.store.engine, stream_key, slug, purpose=tickets.PUBLISH)
            room = await self.store.room_row(slug) if who is not None else None
            return room is not None and who is not None and room.owner_id == who.user_id
        row = await self.store.room_by_stream_key(stream_key)
        return row is not None and row.slug == slug

    async def claim(self, slug: str) -> bool:
        """The ingests' gate: False when another node holds the room's ingest."""
        return self.directory is None or await self.directory.claim(slug)

    async def locate(self, slug: str) -> str | None:
        """The node holding ``slug``'s ingest when it is another one (LL-HLS edges pull there)."""
        if self.directory is None:
            return None
        try:
            return await self.directory.lookup(slug)
        except Exception:  # noqa: BLE001 - Redis down: answer as for a room not live here
            log.exception("room directory lookup of %s failed", slug)
            return None

    async def room_exists(self, slug: str) -> bool:
        return await self.store.room_row(slug) is not None

    async def start_rtmp(self) -> None:
        host, port = self.settings.rtmp_bind
        self.rtmp = RtmpServer(HubIngest(self.hub, self.resolve_key, claim=self.claim), ServerConfig(), self.throttle)
        await self.rtmp.start(host, port)
        log.info("rtmp listening", extra={"rtmp": f"{host}:{self.rtmp.port}"})

    async def stop_rtmp(self) -> None:
        if self.rtmp is not None:
            await self.rtmp.close()
            self.rtmp = None

    def state(self, slug: str) -> dict[str, Any]:
        stream = self.hub.get(slug)
        return stream.state_dict() if stream is not None else offline_state(slug)

    async def end_stream(self, slug: str) -> bool:
        """End the room's stream held here at once: it goes offline (no reconnect grace) and
        the publisher's RTMP connection or WHIP session is closed. True if there was one.

        Called when the owner ends the stream or rotates the key (the publisher used the old
        key: a room has one key at a time)."""
        stream = self.hub.get(slug)
        if stream is None:
            return False
        peer = rtmp_peer(stream.source)
        self.hub.stop(slug)
        if peer is not None and self.rtmp is not None:
            self.rtmp.disconnect(peer)
        if self.webrtc is not None:
            await self.webrtc.end_publish(slug)
        log.info("stream ended by its owner", extra={"room": slug})
        return True

    def held_state(self, slug: str) -> dict[str, Any] | None:
        """The state of ``slug``'s stream when this process holds it (rooms.ports.LiveStreams)."""
        stream = self.hub.get(slug)
        return stream.state_dict() if stream is not None else None

    async def hand_over(self, slug: str) -> None:
        """Another node took the room's ingest over (server.directory): end the stream here
        without telling the room it went offline."""
        self._moved.add(slug)
        try:
            await self.end_stream(slug)
        finally:
            self._moved.discard(slug)

    def _state_changed(self, stream: Stream) -> None:
        data = stream.state_dict()
        # started_at tells apart two streams of one room (a takeover from another node
        # starts again at session 1): the room must hear the new one go live.
        key = (f"stream:{stream.slug}:{stream.started_at}:{stream.session}:{data['state']}:"
               f"{data.get('codecs')}:{data.get('fps')}")
        moved = data["state"] == "offline" and stream.slug in self._moved
        self.router.emit(StreamStateChanged(stream.slug, data, key, moved=moved))


def webrtc_settings(settings: Settings) -> WebRtcSettings:
    low, high = 0, 0
    if settings.webrtc_udp_ports:
        first, _, last = settings.webrtc_udp_ports.partition("-")
        low, high = int(first), int(last or first)
    return WebRtcSettings(
        ice_servers=tuple(IceServer.parse(u.strip()) for u in settings.webrtc_ice_servers.split(",") if u.strip()),
        udp_port_min=low,
        udp_port_max=high,
        public_ip=settings.webrtc_public_ip,
        host_addresses=tuple(a.strip() for a in settings.webrtc_host_addresses.split(",") if a.strip()),
        max_publishers=settings.webrtc_max_publishers,
        max_viewers=settings.webrtc_max_viewers,
        max_viewers_per_address=settings.webrtc_max_viewers_per_address,
        max_viewers_per_room=settings.webrtc_max_viewers_per_room,
        connect_timeout_s=settings.webrtc_connect_timeout_s,
    )


async def stream_state(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    slug = request.match_info["slug"]
    if await services.store.room_row(slug) is None:
        raise NotFound("no such room", "no_room")
    return json_response(services.live.state(slug))


async def thumbnail(request: web.Request) -> web.Response:
    """``GET /api/rooms/{slug}/thumbnail.jpg``: a still of the live stream, at most
    ``--thumbnail-interval-s`` old (media.thumbnail) when held here, fetched from the node
    holding it otherwise (:class:`RemoteStills`, the room directory); 404 ``no_thumbnail``
    while the room is offline, before its first keyframe, or while a show gates it (a paid
    show is not given away a frame at a time): the page shows its placeholder."""
    services = request.app[SERVICES]
    slug = request.match_info["slug"]
    if await services.store.room_row(slug) is None:
        raise NotFound("no such room", "no_room")
    jpeg = None
    if not await services.access.live_shows(slug):
        jpeg = await services.live.thumbnails.jpeg(slug)
        if jpeg is None and services.live.hub.get(slug) is None and FORWARDED not in request.headers:
            jpeg = await services.live.remote_stills.jpeg(slug)
    if jpeg is None:
        raise NotFound("no picture of this room now", "no_thumbnail")
    max_age = max(1, int(services.settings.thumbnail_interval_s))
    return web.Response(body=jpeg, content_type="image/jpeg", headers={
        "Cache-Control": f"public, max-age={max_age}", "X-Content-Type-Options": "nosniff"})


def setup(app: web.Application, live: Live, access: ShowAccess | None = None) -> None:
    """``access``: tickets' checks for LL-HLS and WHEP (server/access.py); none: every room is open."""
    app.router.add_get("/api/rooms/{slug}/stream", stream_state)
    app.router.add_get("/api/rooms/{slug}/thumbnail.jpg", thumbnail)

    async def close_thumbnails(_: web.Application) -> None:
        live.thumbnails.close()
        await live.remote_stills.close()

    app.on_cleanup.append(close_thumbnails)
    hls = setup_hls(app, live.hub, live.room_exists, access=access.hls if access else None)
    edge = HlsEdge(live.locate)
    hls.elsewhere = edge.serve
    if live.settings.hls_fast_path:
        app[LIVE_PATH] = LivePath(hls, access=access.hls if access else None,
                                  access_now=access.hls_now if access else None, request_id=request_id_for,
                                  keepalive_s=live.settings.http_keepalive_s, edge=edge)

    async def close_edge(_: web.Application) -> None:
        await edge.close()

    app.on_cleanup.append(close_edge)
    rtc = webrtc_settings(live.settings)
    live.webrtc = whip.setup_routes(app, live.hub, live.authorize_publisher, live.room_exists,
                                    settings=rtc, throttle=live.throttle, claim=live.claim)
    whep.setup_routes(app, live.hub, live.room_exists, settings=rtc,
                      authorize_viewer=access.whep if access else None)
    setup_edges(app, live)


def setup_edges(app: web.Application, live: Live) -> None:
    """WebRTC across nodes: this node's WHEP viewers of rooms held elsewhere go through edge
    relays (media.webrtc.edge), and other nodes' relays pull the rooms held here
    (media.webrtc.pull); each pull carries a credential under the cluster's secret key
    (server.edgeauth)."""
    settings = live.settings
    key = edgeauth.derive(settings.secret_key.encode() if settings.secret_key
                          else load_or_create_secret(settings.data_dir))
    assert live.webrtc is not None

    def credential(slug: str) -> dict[str, str]:
        return {"Authorization": edgeauth.credential(key, slug, time.time())}

    async def authorize(slug: str, request: web.Request) -> str | None:
        return edgeauth.refusal(key, slug, request.headers.get("Authorization", ""), time.time())

    live.webrtc.edges = EdgeRelays(live.locate, credential)
    pull.setup_routes(app, live.webrtc, authorize)
