"""Holds, orders and tickets. Every change to what a tier has left runs under the tier's
lock (``ticketing.db.Writer``), counting and writing in one transaction.

``hold`` takes a seat for ``hold_s`` seconds. ``fulfil`` turns a paid order into a ticket
once (a redelivered payment finds the ticket already there); a payment that arrives after
its hold expired gets a seat if one is still free, else the order becomes
``refunded_sold_out`` and the caller refunds the payment. ``release`` ends a hold at once
(declined or abandoned checkout); ``sweep`` marks expired holds (they stopped counting when
they expired; this only tidies their status).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.store import lease
from ticketing import tables as t
from ticketing.db import Writer, counts, new_id, order_of, part_of, show_of, ticket_of, tier_of
from ticketing.errors import NotFound, OffSale, Refused, SoldOut
from ticketing.model import Order, OrderStatus, Show, Ticket, TicketStatus, Tier

# The hold's call on the driver connection (asyncpg): every order runs it, and SQLAlchemy's
# work per execution (building the call, cache key, result) cost several times the round trip.
_PG_HOLD = ("SELECT notalabel_ticket_hold($1::text, $2::text, $3::bigint, $4::bigint, $5::float8, $6::float8, "
            "$7::text, $8::integer, $9::bigint, $10::text, $11::float8, $12::float8, $13::text, $14::text)")


class Outcome(enum.Enum):
    ISSUED = "issued"  # a ticket now exists for the order (this call or an earlier one)
    SOLD_OUT = "sold_out"  # paid too late and no seat left: refund the payment


@dataclass(frozen=True)
class Fulfilment:
    outcome: Outcome
    order: Order
    ticket: Ticket | None = None


@dataclass(frozen=True)
class Access:
    """A user's best valid ticket for a show, with what its tier unlocks."""

    ticket: Ticket
    tier: Tier
    show: Show


class Sales:
    def __init__(self, engine: AsyncEngine, writer: Writer, hold_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.reads = engine.execution_options(isolation_level="AUTOCOMMIT")  # one statement, one round trip
        self.writer = writer
        self.hold_s = hold_s
        self.clock = clock

    # --- holds -----------------------------------------------------------------------------

    async def hold(self, show: Show, tier_id: str, user_id: int, offered: int | None,
                   known: Tier | None = None) -> Order:
        """One seat held for ``hold_s``; ``SoldOut``/``OffSale``/``BadPrice`` otherwise.
        ``known``: the tier as the caller just read it, which need then not be read again."""
        now = self.clock()
        if known is not None and (known.id, known.show_id) != (tier_id, show.id):
            known = None
        if self.writer.is_pg:
            order = await self._hold_pg(show, tier_id, user_id, offered, known, now)
            if order is not None:
                return order
        else:
            await self._precheck(show, tier_id, now, known)
        return await self._hold_locked(show, tier_id, user_id, offered)

    async def _hold_pg(self, show: Show, tier_id: str, user_id: int, offered: int | None,
                       known: Tier | None, now: float) -> Order | None:
        """PostgreSQL: the hold as one autocommit call of ``notalabel_ticket_hold`` (migration
        0015: lock the tier's row, count, insert, all inside the database, so the lock lasts
        no client round trip). The price and sales window are checked here against ``known``
        and the call holds only if the locked row still has them; ``None`` when it changed
        (an owner's edit in between): the caller then takes the locked path."""
        if known is None:
            async with self.reads.connect() as conn:
                known = await _tier_of_show(conn, show, tier_id)
        if show.over(now):
            raise Refused("this show is over")
        if not known.on_sale(now):
            raise OffSale("this tier is not on sale now")
        amount = known.amount_for(offered)
        order = Order(id=new_id("ord"), show_id=show.id, tier_id=known.id, user_id=user_id, amount=amount,
                      currency=show.currency, status=OrderStatus.HELD, expires_at=now + self.hold_s,
                      created_at=now)
        async with lease(self.engine) as raw:
            outcome = await raw.fetchval(
                _PG_HOLD, known.id, show.id, known.price, known.min_price, known.sales_start, known.sales_end,
                order.id, user_id, amount, order.currency, order.expires_at, now,
                OrderStatus.HELD.value, TicketStatus.VALID.value)
        if outcome == "held":
            return order
        if outcome == "sold_out":
            raise SoldOut("this tier is sold out")
        return None

    async def _hold_locked(self, show: Show, tier_id: str, user_id: int, offered: int | None) -> Order:
        """The hold as a transaction under the tier's lock (SQLite, and PostgreSQL when the
        tier changed between the caller's read and the hold)."""
        async with self.writer.begin() as conn:
            tier = await self.writer.lock_tier(conn, tier_id)
            if tier.show_id != show.id:
                raise NotFound("tier")
            amount = tier.amount_for(offered)
            now = self.clock()
            if show.over(now):
                raise Refused("this show is over")
            sold, held = (await counts(conn, [tier.id], now))[tier.id]
            tier.check_sellable(now, sold, held)
            order = Order(id=new_id("ord"), show_id=show.id, tier_id=tier.id, user_id=user_id, amount=amount,
                          currency=show.currency, status=OrderStatus.HELD, expires_at=now + self.hold_s,
                          created_at=now)
            await conn.execute(t.orders.insert().values(
                id=order.id, show_id=order.show_id, tier_id=order.tier_id, user_id=user_id, amount=amount,
                currency=order.currency, status=order.status.value, expires_at=order.expires_at,
                created_at=now, updated_at=now))
        return order

    async def _precheck(self, show: Show, tier_id: str, now: float, known: Tier | None) -> None:
        """Refuse without the lock what is plainly sold out, off sale or mispriced, so a crowd
        retrying a sold-out tier does not queue on its lock ahead of the payments that turn
        holds into tickets. Only a refusal comes from these unlocked reads (each its own
        statement, no snapshot needed); a hold is granted only by the locked count."""
        async with self.reads.connect() as conn:
            if known is None:
                known = await _tier_of_show(conn, show, tier_id)
            sold, held = (await counts(conn, [tier_id], now))[tier_id]
        known.check_sellable(now, sold, held)

    async def order(self, order_id: str) -> Order:
        async with self.reads.connect() as conn:
            row = (await conn.execute(sa.select(t.orders).where(t.orders.c.id == order_id))).first()
        if row is None:
            raise NotFound("order")
        return order_of(row)

    async def _set_status(self, conn: AsyncConnection, order: Order, status: OrderStatus,
                          ticket_id: str | None = None) -> Order:
        await conn.execute(t.orders.update().where(t.orders.c.id == order.id)
                           .values(status=status.value, ticket_id=ticket_id, updated_at=self.clock()))
        return replace(order, status=status, ticket_id=ticket_id)

    async def release(self, order_id: str, status: OrderStatus = OrderStatus.FAILED) -> bool:
        """End a live hold now (payment declined or checkout expired); False if it was not held."""
        async with self.writer.begin() as conn:
            o = t.orders.c
            result = await conn.execute(t.orders.update().where(o.id == order_id, o.status == OrderStatus.HELD.value)
                                        .values(status=status.value, updated_at=self.clock()))
        return bool(result.rowcount)

    async def sweep(self) -> int:
        """Mark holds that expired as ``expired``; how many."""
        o = t.orders.c
        async with self.writer.begin() as conn:
            result = await conn.execute(
                t.orders.update().where(o.status == OrderStatus.HELD.value, o.expires_at <= self.clock())
                .values(status=OrderStatus.EXPIRED.value, updated_at=self.clock()))
        return int(result.rowcount)

    # --- payment -> ticket -----------------------------------------------------------------

    async def fulfil(self, order_id: str) -> Fulfilment:
        """The order was paid: its ticket (once), or ``SOLD_OUT`` when paid too late for a seat."""
        order = await self.order(order_id)
        async with self.writer.begin() as conn:
            tier = await self.writer.lock_tier(conn, order.tier_id)
            # The time once we hold the lock: a hold that expired while we waited for it may
            # have gone to another buyer already, so it must not count as live here.
            now = self.clock()
            row = (await conn.execute(sa.select(t.orders).where(t.orders.c.id == order_id))).one()
            order = order_of(row)
            if order.status is OrderStatus.PAID:
                return Fulfilment(Outcome.ISSUED, order, await self._ticket(conn, order.ticket_id))
            if order.status is OrderStatus.REFUNDED_SOLD_OUT:
                return Fulfilment(Outcome.SOLD_OUT, order)
            live = order.status is OrderStatus.HELD and order.expires_at > now
            if not live:
                sold, held = (await counts(conn, [tier.id], now, except_order=order.id))[tier.id]
                if tier.remaining(sold, held) == 0:
                    return Fulfilment(Outcome.SOLD_OUT, await self._set_status(conn, order, OrderStatus.REFUNDED_SOLD_OUT))
            ticket = await self._issue(conn, order.show_id, tier.id, order.user_id, order.id)
            order = await self._set_status(conn, order, OrderStatus.PAID, ticket.id)
            return Fulfilment(Outcome.ISSUED, order, ticket)

    async def _issue(self, conn: AsyncConnection, show_id: str, tier_id: str, owner_id: int,
                     order_id: str | None) -> Ticket:
        now = self.clock()
        ticket = Ticket(id=new_id("tkt"), show_id=show_id, tier_id=tier_id, owner_id=owner_id,
                        status=TicketStatus.VALID, order_id=order_id, comp=order_id is None, created_at=now)
        await conn.execute(t.tickets.insert().values(
            id=ticket.id, show_id=show_id, tier_id=tier_id, owner_id=owner_id, status=ticket.status.value,
            order_id=order_id, comp=ticket.comp, created_at=now, updated_at=now))
        return ticket

    async def _ticket(self, conn: AsyncConnection, ticket_id: str | None) -> Ticket | None:
        if ticket_id is None:
            return None
        row = (await conn.execute(sa.select(t.tickets).where(t.tickets.c.id == ticket_id))).first()
        return ticket_of(row) if row else None

    async def comp(self, show: Show, tier_id: str, user_id: int) -> Ticket:
        """A free ticket from the owner (guest list); it takes a seat like any other."""
        now = self.clock()
        async with self.writer.begin() as conn:
            tier = await self.writer.lock_tier(conn, tier_id)
            if tier.show_id != show.id:
                raise NotFound("tier")
            sold, held = (await counts(conn, [tier.id], now))[tier.id]
            if tier.remaining(sold, held) == 0:
                raise SoldOut("this tier is sold out")
            return await self._issue(conn, show.id, tier.id, user_id, None)

    # --- tickets ---------------------------------------------------------------------------

    async def ticket(self, ticket_id: str) -> Ticket:
        async with self.engine.connect() as conn:
            found = await self._ticket(conn, ticket_id)
        if found is None:
            raise NotFound("ticket")
        return found

    async def tickets_of(self, owner_id: int) -> list[Ticket]:
        k = t.tickets.c
        q = sa.select(t.tickets).where(k.owner_id == owner_id).order_by(k.created_at.desc(), k.id).limit(500)
        async with self.engine.connect() as conn:
            return [ticket_of(r) for r in await conn.execute(q)]

    async def transfer(self, ticket_id: str, from_user: int, to_user: int) -> Ticket:
        """Give a valid ticket of ``from_user`` to ``to_user``; ``NotFound`` for anyone else's."""
        k = t.tickets.c
        async with self.writer.begin() as conn:
            result = await conn.execute(
                t.tickets.update().where(k.id == ticket_id, k.owner_id == from_user,
                                         k.status == TicketStatus.VALID.value)
                .values(owner_id=to_user, updated_at=self.clock()))
            if not result.rowcount:
                raise NotFound("ticket")
            found = await self._ticket(conn, ticket_id)
        assert found is not None
        return found

    async def mark_refunded(self, ticket_id: str) -> Ticket:
        k = t.tickets.c
        async with self.writer.begin() as conn:
            await conn.execute(t.tickets.update().where(k.id == ticket_id)
                               .values(status=TicketStatus.REFUNDED.value, updated_at=self.clock()))
            found = await self._ticket(conn, ticket_id)
        if found is None:
            raise NotFound("ticket")
        return found

    async def ticket_of_order(self, order_id: str) -> Ticket | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.tickets).where(t.tickets.c.order_id == order_id))).first()
        return ticket_of(row) if row else None

    async def access(self, user_id: int, show_id: str) -> Access | None:
        """The user's valid ticket for the show with the most unlocked (realtime, then chat)."""
        k = t.tickets.c
        q = (sa.select(t.tickets, t.tiers, t.shows).join(t.tiers, t.tiers.c.id == k.tier_id)
             .join(t.shows, t.shows.c.id == k.show_id)
             .where(k.owner_id == user_id, k.show_id == show_id, k.status == TicketStatus.VALID.value))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        best: Access | None = None
        for row in rows:
            ticket = ticket_of(part_of(row, t.tickets))
            tier, show = tier_of(part_of(row, t.tiers)), show_of(part_of(row, t.shows))
            rank = (tier.latency_class == "realtime", tier.chat)
            if best is None or rank > (best.tier.latency_class == "realtime", best.tier.chat):
                best = Access(ticket, tier, show)
        return best


async def _tier_of_show(conn: AsyncConnection, show: Show, tier_id: str) -> Tier:
    """The tier ``tier_id`` of ``show``, read without a lock; NotFound for any other."""
    row = (await conn.execute(sa.select(t.tiers).where(t.tiers.c.id == tier_id))).first()
    if row is None or row.show_id != show.id:
        raise NotFound("tier")
    return tier_of(row)
