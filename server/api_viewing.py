"""Viewing sessions: one device per ticket, with short-lived signed viewing tokens.

    POST /api/shows/{show_id}/viewing-sessions  {"takeover"?: bool}  (a ticket holder, the owner or a host)
        -> 201 {"session", "token", "expires_at", "heartbeat_s", "hls_url", "whep_url"?, "socket_url",
                "heartbeat_url"}
    POST /api/viewing-sessions/{session}/heartbeat  {"token"}  -> 200 a fresh token and URLs

``hls_url`` carries the token in its path (``/live/{room}/vt/{token}/index.m3u8``: the
playlist there lists its URIs relative, so they carry it too without the playlist repeating
it; ``?vt=`` works as well); ``whep_url`` is given to ``realtime`` tiers only
and takes the token as ``Authorization: Bearer``. Both answers also set the token as the
``nal_vt`` cookie for ``/live/{room}/`` (HttpOnly, as long as the token lives): a native HLS
player keeps reloading the playlist address it was first given, whose token expires after
``--viewing-token-ttl-s`` (60 s by default), and the cookie the heartbeat renews carries it on.
``heartbeat_s`` says how often to renew: every 15 s, or a quarter of the token's lifetime
when that is shorter. A ticket already watching on another
device answers 409 ``watching_elsewhere`` unless ``takeover`` is true; taking over tells the
room (event ``viewing.taken_over`` with the old session's id, so that device's page stops)
and the old session's tokens stop working (server/viewing.py). A heartbeat (every ~15 s)
renews the token while the session is still the ticket's current one; else 409 ``taken_over``.
The owner and hosts watch without a ticket (their session is keyed ``staff-{user}``).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from media.hls.http import TOKEN_COOKIE
from rooms.ports import Identity
from server import auth
from server.api_shows import mapped, room_of
from server.errors import Conflict, Forbidden, NotFound
from server.httputil import field_str, json_response, read_json, read_json_if_any
from server.keys import SERVICES
from server.show_wire import bad
from server.store import RoomRow
from ticketing.errors import BadToken
from ticketing.errors import NotFound as NotFoundError
from ticketing.model import Show
from ticketing.tokens import verify

if TYPE_CHECKING:
    from server.services import Services

TAKEN_OVER = "viewing.taken_over"
HEARTBEAT_S = 15.0


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


async def _entitlement(request: web.Request, show: Show, room: RoomRow, identity: Identity) -> tuple[str, bool, bool]:
    """(ticket key, realtime, chat) for this user and show; 403 without a ticket."""
    services = _services(request)
    if identity.user_id == room.owner_id or identity.user_id in await services.store.host_ids(room.id):
        return f"staff-{identity.user_id}-{show.id}", True, True
    held = await services.ticketing.sales.access(identity.user_id, show.id)
    if held is None:
        raise Forbidden("a ticket for this show is needed to watch", "ticket_needed")
    return held.ticket.id, held.tier.latency_class == "realtime", held.tier.chat


def heartbeat_s(token_ttl_s: float) -> float:
    return max(1.0, min(HEARTBEAT_S, token_ttl_s / 4))


def _answer(request: web.Request, body: dict[str, Any], status: int = 200) -> web.Response:
    """The session's JSON, with its token as the cookie native HLS sends (see the module doc)."""
    settings = _services(request).settings
    response = json_response(body, status=status)
    response.set_cookie(TOKEN_COOKIE, body["token"], path=f"/live/{body['room']}/",
                        max_age=int(settings.viewing_token_ttl_s), httponly=True, samesite="Lax",
                        secure=settings.cookie_secure)
    return response


def _urls(request: web.Request, slug: str, session: str, token: str, expires: int, realtime: bool) -> dict[str, Any]:
    settings = request.app[SERVICES].settings
    base = settings.base_url
    body: dict[str, Any] = {
        "session": session, "room": slug, "token": token, "expires_at": expires,
        "heartbeat_s": heartbeat_s(settings.viewing_token_ttl_s),
        "hls_url": f"{base}/live/{slug}/vt/{token}/index.m3u8",
        "socket_url": base.replace("http", "ws", 1) + f"/ws/rooms/{slug}",
        "heartbeat_url": f"{base}/api/viewing-sessions/{session}/heartbeat",
    }
    if realtime:
        body["whep_url"] = f"{base}/whep/{slug}"
    return body


@mapped
async def open_session(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    services = _services(request)
    show = await services.ticketing.catalog.show(request.match_info["show_id"][:32])
    room = await room_of(request, show.room_slug)
    data = await read_json_if_any(request)
    takeover = data.get("takeover", False)
    if not isinstance(takeover, bool):
        raise bad("'takeover' must be true or false")
    ticket_key, realtime, chat = await _entitlement(request, show, room, identity)
    if await services.viewing.current(ticket_key) is not None and not takeover:
        raise Conflict("this ticket is watching on another device; send takeover: true to watch here",
                       "watching_elsewhere")
    session = "vs_" + secrets.token_hex(8)
    old = await services.viewing.open(ticket_key, session)
    if old is not None:
        await services.gateway.publish_system(room.slug, TAKEN_OVER, {"session": old}, f"taken-over:{old}")
    token, expires = services.access.token(ticket_key, session, room.slug, realtime, chat)
    return _answer(request, _urls(request, room.slug, session, token, expires, realtime), status=201)


async def _holds(services: Services, ticket_key: str, user_id: int) -> bool:
    """Whether ``ticket_key`` (a ticket id, or ``staff-{user}-{show}``) is this user's: a token
    is renewed only for its own holder, so a token passed to someone else dies with its TTL."""
    if ticket_key.startswith("staff-"):
        return ticket_key.startswith(f"staff-{user_id}-")
    try:
        ticket = await services.ticketing.sales.ticket(ticket_key)
    except NotFoundError:
        return False
    return ticket.owner_id == user_id


@mapped
async def heartbeat(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    services = _services(request)
    data = await read_json(request)
    token = field_str(data, "token", max_len=512)
    access = services.access
    try:  # an expired token may renew itself for one more lifetime, a forged one never
        grant = verify(access.key, token, access.clock() - access.token_ttl_s)
    except BadToken:
        raise NotFound("no such viewing session", "no_session") from None
    if grant.session != request.match_info["session"]:
        raise NotFound("no such viewing session", "no_session")
    if await services.viewing.current(grant.ticket_id) != grant.session:
        raise Conflict("this ticket is now watching on another device, or was refunded", "taken_over")
    if not await _holds(services, grant.ticket_id, identity.user_id):
        raise NotFound("no such viewing session", "no_session")
    fresh, expires = access.token(grant.ticket_id, grant.session, grant.room, grant.realtime, grant.chat)
    return _answer(request, _urls(request, grant.room, grant.session, fresh, expires, grant.realtime))


def setup(app: web.Application) -> None:
    app.router.add_post("/api/shows/{show_id}/viewing-sessions", open_session)
    app.router.add_post("/api/viewing-sessions/{session}/heartbeat", heartbeat)
