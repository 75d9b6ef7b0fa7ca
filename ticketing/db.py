"""Row mapping and the tier lock shared by the catalog and sales.

The lock is what makes "no oversell" true: every write that changes what a tier has left
(a hold, a ticket issued late, a comp) first takes the tier's lock, then counts, then
writes, in one transaction.

- PostgreSQL: ``SELECT ... FOR UPDATE`` on the tier's row; other nodes' buyers of the same
  tier queue on it, buyers of other tiers do not. A hold takes the same lock inside one call of
  the database function ``notalabel_ticket_hold`` (migration 0015), so it spans no round trip.
- SQLite: the transaction's first statement is a write to the tier row (``lock_seq``), which
  takes the database's single writer lock before anything is read, so the count a
  transaction reads cannot be stale (a read first would start a snapshot that a concurrent
  writer could invalidate). Within one process an ``asyncio.Lock`` queues writers first, so
  they wait on the loop instead of on SQLite's busy timeout.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ticketing import tables as t
from ticketing.errors import NotFound
from ticketing.model import Order, OrderStatus, Show, Ticket, TicketStatus, Tier


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


class Part:
    """One table's columns of a joined row, under their own names (for ``show_of``, ``tier_of``...)."""

    def __init__(self, mapping: dict[str, object]) -> None:
        self._mapping = mapping


def part_of(row: sa.Row[tuple[object, ...]], table: sa.Table) -> Part:
    """``table``'s columns of ``row`` (a select of several tables, whose names may clash)."""
    return Part({c.name: row._mapping[c] for c in table.c})


def show_of(row: Any) -> Show:
    m = row._mapping
    return Show(id=m["id"], room_id=m["room_id"], room_slug=m["room_slug"], title=m["title"],
                starts_at=m["starts_at"], ends_at=m["ends_at"], currency=m["currency"],
                replay_hours=m["replay_hours"], created_at=m["created_at"],
                record=m["record"])


def tier_of(row: Any) -> Tier:
    m = row._mapping
    return Tier(id=m["id"], show_id=m["show_id"], name=m["name"], price=m["price"], min_price=m["min_price"],
                quantity=m["quantity"], sales_start=m["sales_start"], sales_end=m["sales_end"],
                latency_class=m["latency_class"], chat=bool(m["chat"]), replay=bool(m["replay"]))


def order_of(row: Any) -> Order:
    m = row._mapping
    return Order(id=m["id"], show_id=m["show_id"], tier_id=m["tier_id"], user_id=m["user_id"], amount=m["amount"],
                 currency=m["currency"], status=OrderStatus(m["status"]), expires_at=m["expires_at"],
                 created_at=m["created_at"], ticket_id=m["ticket_id"])


def ticket_of(row: Any) -> Ticket:
    m = row._mapping
    return Ticket(id=m["id"], show_id=m["show_id"], tier_id=m["tier_id"], owner_id=m["owner_id"],
                  status=TicketStatus(m["status"]), order_id=m["order_id"], comp=bool(m["comp"]),
                  created_at=m["created_at"])


class Writer:
    """Opens write transactions, holding a tier's lock when asked (see the module rules)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_pg = engine.dialect.name == "postgresql"
        self._local = asyncio.Lock()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        if self.is_pg:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._local, self.engine.begin() as conn:
            yield conn

    async def lock_tier(self, conn: AsyncConnection, tier_id: str) -> Tier:
        """The tier, locked until the transaction ends; the first statement of the transaction."""
        if not self.is_pg:
            await conn.execute(t.tiers.update().where(t.tiers.c.id == tier_id)
                               .values(lock_seq=t.tiers.c.lock_seq + 1))
        q = sa.select(t.tiers).where(t.tiers.c.id == tier_id)
        row = (await conn.execute(q.with_for_update() if self.is_pg else q)).first()
        if row is None:
            raise NotFound("tier")
        return tier_of(row)


async def counts(conn: AsyncConnection, tier_ids: list[str], now: float,
                 except_order: str | None = None) -> dict[str, tuple[int, int]]:
    """``{tier_id: (valid tickets, live holds)}``, in one query (one round trip): ``hold``
    runs it under the tier's row lock, where every hold of the tier waits its turn."""
    if not tier_ids:
        return {}
    k, o = t.tickets.c, t.orders.c
    live = sa.and_(o.tier_id.in_(tier_ids), o.status == OrderStatus.HELD.value, o.expires_at > now)
    if except_order is not None:
        live = sa.and_(live, o.id != except_order)
    valid = sa.and_(k.tier_id.in_(tier_ids), k.status == TicketStatus.VALID.value)
    both = sa.union_all(
        sa.select(k.tier_id, sa.literal_column("1").label("sold"), sa.func.count()).where(valid).group_by(k.tier_id),
        sa.select(o.tier_id, sa.literal_column("0").label("sold"), sa.func.count()).where(live).group_by(o.tier_id))
    sold: dict[str, int] = {}
    held: dict[str, int] = {}
    for tier_id, is_sold, n in (await conn.execute(both)).all():
        (sold if is_sold else held)[tier_id] = int(n)
    return {tid: (int(sold.get(tid, 0)), int(held.get(tid, 0))) for tid in tier_ids}
