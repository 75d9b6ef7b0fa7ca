"""Holds, late payments, comps, transfers, on SQLite and PostgreSQL, with real concurrency."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from tests.ticketing.conftest import Box
from ticketing import tables as t
from ticketing.errors import NotFound, SoldOut
from ticketing.model import OrderStatus, Show
from ticketing.sales import Outcome


async def show_with_tier(box: Box, quantity: int | None) -> tuple[Show, str]:
    show = await box.catalog.create_show(box.room_id, "gig", {"title": "Gig", "starts_at": box.clock.now + 3600,
                                                               "ends_at": None, "currency": "USD", "replay_hours": 0})
    tier = await box.catalog.add_tier(show.id, {"name": "GA", "price": 1000, "quantity": quantity})
    return show, tier.id


async def test_concurrent_holds_never_exceed_the_quota(box: Box) -> None:
    show, tier_id = await show_with_tier(box, 100)

    async def buy(user: int) -> str | None:
        try:
            return (await box.sales.hold(show, tier_id, user, None)).id
        except SoldOut:
            return None

    results = await asyncio.gather(*(buy(u) for u in box.users[:300]))
    held = [r for r in results if r]
    assert len(held) == 100
    (_tier, sold, live), = await box.catalog.tiers_with_counts(show.id)
    assert (sold, live) == (0, 100)


async def test_paid_in_time_is_a_ticket_once(box: Box) -> None:
    show, tier_id = await show_with_tier(box, 1)
    order = await box.sales.hold(show, tier_id, box.users[1], None)
    first, again = await asyncio.gather(box.sales.fulfil(order.id), box.sales.fulfil(order.id))
    assert first.outcome is again.outcome is Outcome.ISSUED
    assert first.ticket is not None and again.ticket is not None and first.ticket.id == again.ticket.id
    with pytest.raises(SoldOut):
        await box.sales.hold(show, tier_id, box.users[2], None)


async def test_late_payment_gets_a_free_seat_or_is_sold_out(box: Box) -> None:
    show, tier_id = await show_with_tier(box, 1)
    late = await box.sales.hold(show, tier_id, box.users[1], None)
    box.clock.now += 601
    assert (await box.sales.fulfil(late.id)).outcome is Outcome.ISSUED  # the seat was still free

    show2, tier2 = await show_with_tier(box, 1)
    late = await box.sales.hold(show2, tier2, box.users[1], None)
    box.clock.now += 601
    taken = await box.sales.hold(show2, tier2, box.users[2], None)  # the expired hold freed the seat
    result = await box.sales.fulfil(late.id)
    assert result.outcome is Outcome.SOLD_OUT and result.order.status is OrderStatus.REFUNDED_SOLD_OUT
    assert (await box.sales.fulfil(late.id)).outcome is Outcome.SOLD_OUT  # redelivered: same answer
    assert (await box.sales.fulfil(taken.id)).outcome is Outcome.ISSUED


async def test_release_and_sweep_free_the_seat(box: Box) -> None:
    show, tier_id = await show_with_tier(box, 1)
    order = await box.sales.hold(show, tier_id, box.users[1], None)
    assert await box.sales.release(order.id)
    second = await box.sales.hold(show, tier_id, box.users[2], None)
    box.clock.now += 601
    assert await box.sales.sweep() == 1
    assert (await box.sales.order(second.id)).status is OrderStatus.EXPIRED


async def test_comps_take_seats_and_transfers_move_ownership(box: Box) -> None:
    show, tier_id = await show_with_tier(box, 1)
    comp = await box.sales.comp(show, tier_id, box.users[3])
    assert comp.comp and comp.order_id is None
    with pytest.raises(SoldOut):
        await box.sales.comp(show, tier_id, box.users[4])
    with pytest.raises(NotFound):
        await box.sales.transfer(comp.id, box.users[4], box.users[5])  # not theirs
    moved = await box.sales.transfer(comp.id, box.users[3], box.users[4])
    assert moved.owner_id == box.users[4]
    assert await box.sales.access(box.users[3], show.id) is None
    access = await box.sales.access(box.users[4], show.id)
    assert access is not None and access.ticket.id == comp.id
    await box.sales.mark_refunded(comp.id)
    assert await box.sales.access(box.users[4], show.id) is None


async def test_one_ticket_per_order_is_enforced_by_the_schema(box: Box) -> None:
    show, tier_id = await show_with_tier(box, None)
    order = await box.sales.hold(show, tier_id, box.users[1], None)
    await box.sales.fulfil(order.id)
    async with box.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(t.tickets)
                                .where(t.tickets.c.order_id == order.id))).scalar_one()
    assert n == 1


async def test_a_hold_uses_the_tier_as_locked_not_as_the_caller_read_it(box: Box) -> None:
    """The caller's read of the tier (``known``) may be stale: an owner's price change in
    between is what the hold charges, and the quota is counted under the lock."""
    show, tier_id = await show_with_tier(box, 1)
    _show, known = await box.catalog.show_and_tier(show.id, tier_id)
    await box.catalog.update_tier(show.id, tier_id, {"price": 1500})
    order = await box.sales.hold(show, tier_id, box.users[1], None, known=known)
    assert order.amount == 1500
    with pytest.raises(SoldOut):
        await box.sales.hold(show, tier_id, box.users[2], None, known=known)
    with pytest.raises(NotFound):
        await box.catalog.show_and_tier(show.id, "tier_missing")
    rows = (await _orders(box, tier_id))
    assert [(r.status, r.amount) for r in rows] == [(OrderStatus.HELD.value, 1500)]


async def _orders(box: Box, tier_id: str) -> list[sa.Row[tuple[object, ...]]]:
    async with box.engine.connect() as conn:
        return list((await conn.execute(sa.select(t.orders).where(t.orders.c.tier_id == tier_id))).all())
