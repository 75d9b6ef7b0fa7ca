"""The room socket route: authenticate, check the origin, hand over to rooms.RoomGateway.

Who the socket speaks for, in this order (the first one present decides, nothing falls through):

0. ``?key=`` in the query: the room's overlay key (the OBS overlay page), a read-only socket
   that speaks for nobody, or 403 (counted, see overlay.py).
1. ``?ticket=`` in the query (what our pages use): a single-use socket ticket for this room
   (server/tickets.py), or 401.
   ``?token=`` in the query, even empty (for scripts): that session token, or 401. In both
   cases the cookie is never consulted, so a cross-origin page cannot pass an empty value to
   ride on the cookie.
2. ``Authorization: Bearer`` (scripts): that session, else a guest.
3. The session cookie, honoured only from our own origin (403 otherwise), else a guest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from rooms.bus import BusSettings, EventBus, MemoryBus
from rooms.core import Limits
from rooms.gateway import RoomGateway
from rooms.ports import FreeRoomGate, Gate, Identity, LiveStreams
from rooms.ratelimit import MemoryRateLimiter, Rate, RateLimiter
from rooms.redisbus import RedisBus
from rooms.redislimit import RedisRateLimiter
from server import auth, overlay, tickets
from server.config import Settings
from server.errors import Forbidden, NotFound, Unauthorized
from server.httpguard import address_key
from server.httputil import BAD_INPUT
from server.keys import ENGINE, SERVICES, SETTINGS
from server.store import SqlStore


def make_bus(settings: Settings) -> EventBus:
    bus_settings = BusSettings(history_events=settings.history_events, history_s=settings.history_s)
    if settings.redis:
        return RedisBus(settings.redis, settings.redis_prefix, bus_settings)
    return MemoryBus(bus_settings)


def make_limiter(settings: Settings, redis: Any | None) -> RateLimiter:
    """Chat rate limits: one bucket per user and room on all nodes (Redis), else in process."""
    if redis is not None:
        return RedisRateLimiter(redis, settings.redis_prefix)
    return MemoryRateLimiter()


def make_gateway(
    settings: Settings, bus: EventBus, store: SqlStore, streams: LiveStreams | None = None,
    redis: Any | None = None,
    gate: Gate | None = None,
    on_published: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> RoomGateway:
    limits = Limits(fan_rate=Rate(settings.chat_fan_messages, settings.chat_window_s),
                    staff_rate=Rate(settings.chat_staff_messages, settings.chat_window_s))
    return RoomGateway(
        bus, store, gate or FreeRoomGate(), max_frame=settings.max_ws_frame, buffer=settings.ws_buffer,
        heartbeat_s=settings.ws_heartbeat_s, history_events=settings.history_events,
        history_s=settings.history_s, streams=streams, limits=limits,
        guests_per_address=settings.ws_guests_per_address, sockets_per_user=settings.ws_sockets_per_user,
        max_sockets=settings.ws_max_sockets, limiter=make_limiter(settings, redis),
        on_published=on_published,
    )


def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on socket upgrades; a cookie is only honoured from our own pages."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = urlsplit(origin).netloc
    allowed = {request.host, urlsplit(request.app[SETTINGS].base_url).netloc}
    return host in allowed


async def _query_token_identity(request: web.Request, token: str) -> Identity:
    found = await auth.session_for(request, token) if token else None
    if found is None:
        BAD_INPUT.labels("socket_token").inc()
        raise Unauthorized("?token= is empty, unknown or expired", "bad_token")
    return found.identity


async def _ticket_identity(request: web.Request, ticket: str) -> Identity:
    slug = request.match_info["slug"]
    found = await tickets.redeem(request.app[ENGINE], ticket, slug) if ticket else None
    if found is None:
        BAD_INPUT.labels("socket_ticket").inc()
        raise Unauthorized("?ticket= is unknown, used, expired or for another room; ask for a new one",
                           "bad_ticket")
    return found


async def socket_identity(request: web.Request) -> Identity | None:
    """Who this socket speaks for (see the module docstring); raises 401/403 before the upgrade."""
    if "ticket" in request.query:
        return await _ticket_identity(request, request.query["ticket"])
    if "token" in request.query:
        return await _query_token_identity(request, request.query["token"])
    bearer = request.headers.get("Authorization", "")[:7].lower() == "bearer "
    if not bearer and auth.SESSION_COOKIE in request.cookies and not _same_origin(request):
        BAD_INPUT.labels("cross_origin_socket").inc()
        raise Forbidden("cross-origin room sockets must pass ?ticket= (or ?token= from a script)", "cross_origin")
    return await auth.identify(request)


async def room_socket(request: web.Request) -> web.StreamResponse:
    if "key" in request.query:
        return await _overlay_socket(request)
    identity = await socket_identity(request)
    gateway: RoomGateway = request.app[SERVICES].gateway
    return await gateway.handle(request, request.match_info["slug"], identity, address=_address(request))


async def _overlay_socket(request: web.Request) -> web.StreamResponse:
    """``?key=OVERLAY_KEY``: the overlay page's read-only socket (a wrong key is 403)."""
    slug = request.match_info["slug"]
    row = await request.app[SERVICES].store.room_row(slug)
    if row is None:
        raise NotFound(f"no room {slug!r}", "no_room")
    if not await overlay.key_matches(request, row, request.query["key"]):
        raise Forbidden("wrong overlay key", "bad_overlay_key")
    gateway: RoomGateway = request.app[SERVICES].gateway
    return await gateway.handle(request, slug, None, read_only=True, address=_address(request))


def _address(request: web.Request) -> str:
    """What the room socket caps count a guest under: the peer, an IPv6 one by its /64."""
    return address_key(request.remote or "?")


def setup(app: web.Application) -> None:
    app.router.add_get("/ws/rooms/{slug}", room_socket)
