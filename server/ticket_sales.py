"""Selling tickets through payments' checkout, and what a payment's fate does to a ticket.

- ``open_order``: a hold (ticketing), then a pending payment of kind ``ticket`` whose id is
  the order's id, and the provider's checkout (the same path as tips: ``api_tips.checkout``).
  The checkout may outlive the hold (Stripe's shortest is 30 minutes): a payment that
  arrives late still gets a seat if one is free.
- ``paid`` (router, ``PaymentSucceeded`` of kind ticket; the ledger already recorded the
  sale in the webhook's transaction): the order becomes a ticket, or, paid too late for a
  seat, ``refunded_sold_out`` and the whole payment is refunded through the provider with
  the idempotency key ``sold-out:{order}`` (a redelivered webhook repeats the same request).
- ``reversed_`` (``PaymentReversed``: refunded in full or a dispute lost): the ticket is refunded
  and its access revoked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from payments.checkout import Payment, sheet_rows
from payments.splits import SplitSheet
from server import business_metrics
from server.api_tips import checkout
from server.keys import SERVICES
from server.store import RoomRow
from ticketing.model import Order, Show, Tier
from ticketing.sales import Outcome

if TYPE_CHECKING:
    from server.services import Services


async def open_order(request: web.Request, show: Show, tier: Tier, room: RoomRow, order: Order,
                     sheet: SplitSheet) -> str:
    """The checkout URL for a held order; ``sheet``: the room's split sheet, read with the show."""
    services: Services = request.app[SERVICES]
    payment = Payment(
        id=order.id, kind="ticket", status="pending", payer=f"user:{order.user_id}", room=room.slug,
        amount=order.amount, currency=order.currency, provider=services.provider.name,
        meta={"order_id": order.id, "show": show.id, "tier": tier.id, "sheet": sheet_rows(sheet)},
    )
    return await checkout(request, payment, f"{show.title}: {tier.name}")


async def paid(services: Services, p: Payment) -> None:
    if p.kind != "ticket":
        return
    result = await services.ticketing.sales.fulfil(str(p.meta["order_id"]))
    if result.outcome is Outcome.ISSUED:
        business_metrics.TICKETS_SOLD.inc()
    if result.outcome is Outcome.SOLD_OUT and p.payment_intent is not None and p.status == "paid":
        await services.provider.refund(p.payment_intent, None, f"sold-out:{result.order.id}")


async def reversed_(services: Services, p: Payment) -> None:
    if p.kind != "ticket":
        return
    ticket = await services.ticketing.sales.ticket_of_order(str(p.meta["order_id"]))
    if ticket is not None and ticket.valid:
        await services.ticketing.sales.mark_refunded(ticket.id)
        await services.ticket_access_changed(ticket.id, p.room, ticket.owner_id)
