"""The room socket route: authenticate, check the origin, hand over to rooms.RoomGateway."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from rooms.bus import BusSettings, EventBus, MemoryBus
from rooms.gateway import RoomGateway
from rooms.ports import FreeRoomGate, LiveStreams
from rooms.redisbus import RedisBus
from server import auth
from server.config import Settings
from server.httputil import BAD_INPUT
from server.keys import RUNTIME, SETTINGS
from server.store import SqlStore


def make_bus(settings: Settings) -> EventBus:
    bus_settings = BusSettings(history_events=settings.history_events, history_s=settings.history_s)
    if settings.redis:
        return RedisBus(settings.redis, settings.redis_prefix, bus_settings)
    return MemoryBus(bus_settings)


def make_gateway(
    settings: Settings, bus: EventBus, store: SqlStore, streams: LiveStreams | None = None
) -> RoomGateway:
    return RoomGateway(
        bus, store, FreeRoomGate(), max_frame=settings.max_ws_frame, buffer=settings.ws_buffer,
        heartbeat_s=settings.ws_heartbeat_s, history_events=settings.history_events,
        history_s=settings.history_s, streams=streams,
    )


def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on socket upgrades; a cookie is only honoured from our own pages."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = urlsplit(origin).netloc
    allowed = {request.host, urlsplit(request.app[SETTINGS].base_url).netloc}
    return host in allowed


async def room_socket(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request) and auth.SESSION_COOKIE in request.cookies and "token" not in request.query:
        BAD_INPUT.labels("cross_origin_socket").inc()
        raise web.HTTPForbidden(text="cross-origin room sockets must pass ?token=")
    identity = await auth.identify(request, allow_query=True)
    gateway: RoomGateway = request.app[RUNTIME].gateway
    return await gateway.handle(request, request.match_info["slug"], identity)


def setup(app: web.Application) -> None:
    app.router.add_get("/ws/rooms/{slug}", room_socket)
