"""Shows, tiers, comps and the fan's tickets over HTTP.

    POST  /api/rooms/{slug}/shows            the room's owner        -> 201 show
    GET   /api/rooms/{slug}/shows            anyone                  -> {"shows": [...]}
    GET   /api/shows/{show_id}               anyone (public: tiers, prices, what they unlock, remaining)
    PATCH /api/shows/{show_id}               the room's owner
    POST  /api/shows/{show_id}/tiers         the room's owner        -> 201 tier
    PATCH /api/shows/{show_id}/tiers/{tier_id}  the room's owner (hosts never touch prices)
    POST  /api/shows/{show_id}/comps         the room's owner: {"username", "tier_id"} -> 201 ticket
    GET   /api/me/tickets                    the signed-in user's own tickets only
    POST  /api/tickets/{ticket_id}/transfer  the ticket's owner: {"username"}; access moves at once

The owner also sees ``sold``, ``held`` and ``revenue`` per tier (the studio's live sales). Ticketing's errors map to answers here:
not found 404, sold out or off sale 409 with the reason's code, a price below the floor 400.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rooms.ports import Identity
from server import auth
from server.api_tips import money_settings
from server.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from server.httputil import REFUSED, field_str, json_response, read_json
from server.keys import SERVICES
from server.show_wire import (
    SHOW_INPUT,
    SHOW_REQUIRED,
    TIER_INPUT,
    TIER_REQUIRED,
    bad,
    iso,
    parse,
    show_json,
    tier_json,
)
from server.store import RoomRow
from ticketing import errors as te
from ticketing.model import Show, Ticket

if TYPE_CHECKING:
    from server.services import Services

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def answer(exc: te.TicketingError) -> ApiError:
    """A ticketing error as the HTTP answer the route gives."""
    if isinstance(exc, te.NotFound):
        return NotFound(str(exc), f"no_{exc.what}")
    if isinstance(exc, te.BadPrice):
        return bad(str(exc), exc.code)
    if isinstance(exc, te.Refused):
        REFUSED.labels(exc.code).inc()
        return Conflict(str(exc), exc.code)
    if isinstance(exc, te.InvalidTier):
        return bad(str(exc))
    return BadRequest(str(exc))


def mapped(handler: Handler) -> Handler:
    @wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except te.TicketingError as exc:
            raise answer(exc) from None
    return run


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


async def room_of(request: web.Request, slug: str) -> RoomRow:
    row: RoomRow | None = await _services(request).store.room_row(slug)
    if row is None:
        raise NotFound("no such room", "no_room")
    return row


async def require_owner(request: web.Request, room: RoomRow) -> Identity:
    identity = await auth.require_user(request)
    if identity.user_id != room.owner_id:
        raise Forbidden("only the room's owner may do this", "not_owner")
    return identity


async def _show(request: web.Request) -> tuple[Show, RoomRow]:
    show = await _services(request).ticketing.catalog.show(request.match_info["show_id"][:32])
    return show, await room_of(request, show.room_slug)


async def _show_body(request: web.Request, show: Show, owner: bool) -> dict[str, Any]:
    catalog = _services(request).ticketing.catalog
    revenue = await catalog.revenue(show.id) if owner else None
    return show_json(show, await catalog.tiers_with_counts(show.id), catalog.clock(), owner=owner, revenue=revenue)


async def _is_owner(request: web.Request, room: RoomRow) -> bool:
    identity = await auth.identify(request)
    return identity is not None and identity.user_id == room.owner_id


@mapped
async def create_show(request: web.Request) -> web.Response:
    room = await room_of(request, request.match_info["slug"])
    await require_owner(request, room)
    fields = parse(await read_json(request), SHOW_INPUT, SHOW_REQUIRED)
    if "currency" not in fields:
        fields["currency"] = (await money_settings(request, room.id))["currency"]
    fields.setdefault("ends_at", None)
    fields.setdefault("replay_hours", 0)
    show = await _services(request).ticketing.catalog.create_show(room.id, room.slug, fields)
    _services(request).access.forget(room.slug)
    return json_response(await _show_body(request, show, True), status=201)


@mapped
async def list_shows(request: web.Request) -> web.Response:
    room = await room_of(request, request.match_info["slug"])
    owner = await _is_owner(request, room)
    shows = await _services(request).ticketing.catalog.shows_in_room(room.id)
    return json_response({"shows": [await _show_body(request, s, owner) for s in shows]})


@mapped
async def get_show(request: web.Request) -> web.Response:
    show, room = await _show(request)
    return json_response(await _show_body(request, show, await _is_owner(request, room)))


@mapped
async def patch_show(request: web.Request) -> web.Response:
    show, room = await _show(request)
    await require_owner(request, room)
    fields = parse(await read_json(request), SHOW_INPUT)
    show = await _services(request).ticketing.catalog.update_show(show.id, fields)
    _services(request).access.forget(room.slug)
    return json_response(await _show_body(request, show, True))


@mapped
async def create_tier(request: web.Request) -> web.Response:
    show, room = await _show(request)
    await require_owner(request, room)
    fields = parse(await read_json(request), TIER_INPUT, TIER_REQUIRED)
    catalog = _services(request).ticketing.catalog
    tier = await catalog.add_tier(show.id, fields)
    _services(request).access.forget(room.slug)
    return json_response(tier_json(tier, 0, 0, catalog.clock(), owner=True), status=201)


@mapped
async def patch_tier(request: web.Request) -> web.Response:
    show, room = await _show(request)
    await require_owner(request, room)
    fields = parse(await read_json(request), TIER_INPUT)
    catalog = _services(request).ticketing.catalog
    tier = await catalog.update_tier(show.id, request.match_info["tier_id"][:32], fields)
    figures = {t.id: (s, h) for t, s, h in await catalog.tiers_with_counts(show.id)}
    revenue = (await catalog.revenue(show.id)).get(tier.id, 0)
    return json_response(tier_json(tier, *figures[tier.id], catalog.clock(), owner=True, revenue=revenue))


async def user_named(request: web.Request, data: dict[str, Any]) -> int:
    user_id = await _services(request).store.user_id(field_str(data, "username", max_len=32))
    if user_id is None:
        raise NotFound("no such user", "no_user")
    return user_id


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {"id": ticket.id, "show_id": ticket.show_id, "tier_id": ticket.tier_id, "status": ticket.status.value,
            "comp": ticket.comp, "order_id": ticket.order_id, "created_at": iso(ticket.created_at)}


@mapped
async def create_comp(request: web.Request) -> web.Response:
    show, room = await _show(request)
    await require_owner(request, room)
    data = await read_json(request)
    tier_id = field_str(data, "tier_id", max_len=32)
    user_id = await user_named(request, data)
    ticket = await _services(request).ticketing.sales.comp(show, tier_id, user_id)
    return json_response(ticket_json(ticket), status=201)


@mapped
async def my_tickets(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    services = _services(request)
    tickets = await services.ticketing.sales.tickets_of(identity.user_id)
    listed = []
    for ticket in tickets:
        body = ticket_json(ticket)
        show = await services.ticketing.catalog.show(ticket.show_id)
        tier = await services.ticketing.catalog.tier(ticket.show_id, ticket.tier_id)
        body.update(room=show.room_slug, show_title=show.title, starts_at=iso(show.starts_at), tier_name=tier.name,
                    latency_class=tier.latency_class, chat=tier.chat, replay=tier.replay)
        listed.append(body)
    return json_response({"tickets": listed})


@mapped
async def transfer_ticket(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    data = await read_json(request)
    to_user = await user_named(request, data)
    services = _services(request)
    ticket = await services.ticketing.sales.ticket(request.match_info["ticket_id"][:32])
    if ticket.owner_id != identity.user_id or not ticket.valid:
        raise te.NotFound("ticket")  # someone else's ticket is as good as none
    if to_user == identity.user_id:
        raise bad("the ticket is already yours", "same_owner")
    ticket = await services.ticketing.sales.transfer(ticket.id, identity.user_id, to_user)
    show = await services.ticketing.catalog.show(ticket.show_id)
    await services.ticket_access_changed(ticket.id, show.room_slug, identity.user_id)
    return json_response(ticket_json(ticket))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/rooms/{slug}/shows", create_show)
    r.add_get("/api/rooms/{slug}/shows", list_shows)
    r.add_get("/api/shows/{show_id}", get_show)
    r.add_patch("/api/shows/{show_id}", patch_show)
    r.add_post("/api/shows/{show_id}/tiers", create_tier)
    r.add_patch("/api/shows/{show_id}/tiers/{tier_id}", patch_tier)
    r.add_post("/api/shows/{show_id}/comps", create_comp)
    r.add_get("/api/me/tickets", my_tickets)
    r.add_post("/api/tickets/{ticket_id}/transfer", transfer_ticket)
