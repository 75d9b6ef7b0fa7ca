"""Buying and refunding tickets over HTTP.

    POST /api/shows/{show_id}/orders   signed in: {"tier_id", "amount"?} -> 201
                                       {"order_id", "hold_expires_at", "checkout_url"}; 409 sold_out | off_sale
    GET  /api/orders/{order_id}        the buyer: status (held, paid, expired, refunded_sold_out...) and ticket_id
    POST /api/tickets/{ticket_id}/refund  the room's owner: the whole payment back through the provider
                                       (the ledger reverses when its webhook arrives); access ends at once

A free tier (price 0) issues the ticket at once: ``checkout_url`` is null and ``ticket_id`` set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from payments.errors import ProviderError
from server import auth, business_metrics, splits, ticket_sales
from server.api_sandbox import BadGateway
from server.api_shows import mapped, require_owner, room_of, ticket_json
from server.errors import BadRequest, NotFound
from server.httputil import field_int, field_str, json_response, read_json
from server.keys import SERVICES
from server.show_wire import iso
from ticketing import errors as te
from ticketing.model import PRICE_MAX, Order

if TYPE_CHECKING:
    from server.services import Services


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


def order_json(order: Order) -> dict[str, Any]:
    return {"order_id": order.id, "show_id": order.show_id, "tier_id": order.tier_id, "amount": order.amount,
            "currency": order.currency, "status": order.status.value, "hold_expires_at": iso(order.expires_at),
            "ticket_id": order.ticket_id}


@mapped
async def create_order(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    services = _services(request)
    show_id = request.match_info["show_id"][:32]
    try:
        data = await read_json(request)
        tier_id = field_str(data, "tier_id", max_len=32)
    except BadRequest:
        # A missing show or room answers before a bad body, as it always did.
        await room_of(request, (await services.ticketing.catalog.show(show_id)).room_slug)
        raise
    view = await services.store.order_view(show_id, tier_id)  # show, tier, room and split sheet: one statement
    if view is None:
        raise te.NotFound("show")
    if view.tier is None:
        raise te.NotFound("tier")
    if view.room is None:
        raise NotFound("no such room", "no_room")
    show, tier, room = view.show, view.tier, view.room
    amount = field_int(data, "amount", lo=0, hi=PRICE_MAX) if data.get("amount") is not None else None
    order = await services.ticketing.sales.hold(show, tier.id, identity.user_id, amount, known=tier)
    business_metrics.TICKET_HOLDS.labels(tier.latency_class).inc()
    body = order_json(order)
    if order.amount == 0:
        result = await services.ticketing.sales.fulfil(order.id)
        business_metrics.TICKETS_SOLD.inc()
        body.update(order_json(result.order), checkout_url=None)
        return json_response(body, status=201)
    try:
        body["checkout_url"] = await ticket_sales.open_order(request, show, tier, room, order,
                                                             splits.sheet_of(view.split_sheet, room))
    except BadGateway:
        await services.ticketing.sales.release(order.id)
        raise
    return json_response(body, status=201)


@mapped
async def get_order(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    order = await _services(request).ticketing.sales.order(request.match_info["order_id"][:32])
    if order.user_id != identity.user_id:
        raise NotFound("no such order", "no_order")
    return json_response(order_json(order))


@mapped
async def refund_ticket(request: web.Request) -> web.Response:
    services = _services(request)
    ticket = await services.ticketing.sales.ticket(request.match_info["ticket_id"][:32])
    show = await services.ticketing.catalog.show(ticket.show_id)
    await require_owner(request, await room_of(request, show.room_slug))
    if not ticket.valid:
        raise te.Refused("this ticket was refunded already")
    payment = await services.book.get(ticket.order_id) if ticket.order_id else None
    if payment is not None and payment.payment_intent is not None and payment.status == "paid":
        try:
            await services.provider.refund(payment.payment_intent, None, f"ticket-refund:{ticket.id}")
        except ProviderError as exc:
            raise BadGateway(str(exc), "provider_failed") from None
    ticket = await services.ticketing.sales.mark_refunded(ticket.id)
    await services.ticket_access_changed(ticket.id, show.room_slug, ticket.owner_id)
    return json_response(ticket_json(ticket), status=202 if payment is not None else 200)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/shows/{show_id}/orders", create_order)
    r.add_get("/api/orders/{order_id}", get_order)
    r.add_post("/api/tickets/{ticket_id}/refund", refund_ticket)
