"""Shows and tiers: create, change, read. Prices are checked by ``Tier.check`` before any write."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ticketing import tables as t
from ticketing.db import Writer, counts, new_id, part_of, show_of, tier_of
from ticketing.errors import InvalidTier, NotFound
from ticketing.model import Show, TicketStatus, Tier

SHOW_FIELDS = frozenset({"title", "starts_at", "ends_at", "currency", "replay_hours", "record"})
TIER_FIELDS = frozenset({"name", "price", "min_price", "quantity", "sales_start", "sales_end",
                         "latency_class", "chat", "replay"})
MAX_TIERS = 20


class Catalog:
    def __init__(self, engine: AsyncEngine, writer: Writer, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        """One-statement reads without a transaction: one round trip, no BEGIN and ROLLBACK."""
        self.writer = writer
        self.clock = clock

    async def create_show(self, room_id: int, room_slug: str, fields: dict[str, Any]) -> Show:
        show = Show(id=new_id("shw"), room_id=room_id, room_slug=room_slug, created_at=self.clock(),
                    **{k: v for k, v in fields.items() if k in SHOW_FIELDS})
        show.check()
        async with self.writer.begin() as conn:
            await conn.execute(t.shows.insert().values(**asdict(show)))
        return show

    async def update_show(self, show_id: str, fields: dict[str, Any]) -> Show:
        show = replace(await self.show(show_id), **{k: v for k, v in fields.items() if k in SHOW_FIELDS})
        show.check()
        async with self.writer.begin() as conn:
            await conn.execute(t.shows.update().where(t.shows.c.id == show_id)
                               .values(**{k: getattr(show, k) for k in SHOW_FIELDS}))
        return show

    async def show(self, show_id: str) -> Show:
        async with self.reads.connect() as conn:
            row = (await conn.execute(sa.select(t.shows).where(t.shows.c.id == show_id))).first()
        if row is None:
            raise NotFound("show")
        return show_of(row)

    async def shows_in_room(self, room_id: int) -> list[Show]:
        q = sa.select(t.shows).where(t.shows.c.room_id == room_id).order_by(t.shows.c.starts_at, t.shows.c.id)
        async with self.engine.connect() as conn:
            return [show_of(r) for r in await conn.execute(q)]

    async def live_shows(self, room_slug: str, now: float) -> list[Show]:
        """The room's shows that are not over and have a tier: while there is one, the room is gated."""
        sh = t.shows.c
        has_tier = sa.exists().where(t.tiers.c.show_id == sh.id)
        q = (sa.select(t.shows).where(sh.room_slug == room_slug, sa.or_(sh.ends_at.is_(None), sh.ends_at > now), has_tier)
             .order_by(sh.starts_at, sh.id).limit(20))
        async with self.engine.connect() as conn:
            return [show_of(r) for r in await conn.execute(q)]

    async def current_show(self, room_slug: str, now: float, lead_s: float) -> Show | None:
        """The show a live stream of the room belongs to now: the latest one that starts within
        ``lead_s`` (performers go live a little early) and is not over; ticketed or not."""
        sh = t.shows.c
        q = (sa.select(t.shows).where(sh.room_slug == room_slug, sh.starts_at <= now + lead_s,
                                      sa.or_(sh.ends_at.is_(None), sh.ends_at > now))
             .order_by(sh.starts_at.desc(), sh.id.desc()).limit(1))
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        return show_of(row) if row is not None else None

    async def tiers(self, show_id: str) -> list[Tier]:
        q = sa.select(t.tiers).where(t.tiers.c.show_id == show_id).order_by(t.tiers.c.created_at, t.tiers.c.id)
        async with self.engine.connect() as conn:
            return [tier_of(r) for r in await conn.execute(q)]

    async def tier(self, show_id: str, tier_id: str) -> Tier:
        q = sa.select(t.tiers).where(t.tiers.c.id == tier_id, t.tiers.c.show_id == show_id)
        async with self.reads.connect() as conn:
            row = (await conn.execute(q)).first()
        if row is None:
            raise NotFound("tier")
        return tier_of(row)

    async def show_and_tier(self, show_id: str, tier_id: str) -> tuple[Show, Tier]:
        """The show and one of its tiers in one statement (an order's reads); ``NotFound``
        names the one that is missing."""
        sh, ti = t.shows, t.tiers
        q = (sa.select(sh, ti)
             .select_from(sh.outerjoin(ti, sa.and_(ti.c.id == tier_id, ti.c.show_id == sh.c.id)))
             .where(sh.c.id == show_id))
        async with self.reads.connect() as conn:
            row = (await conn.execute(q)).first()
        if row is None:
            raise NotFound("show")
        if row._mapping[ti.c.id] is None:
            raise NotFound("tier")
        return show_of(part_of(row, sh)), tier_of(part_of(row, ti))

    async def tiers_with_counts(self, show_id: str) -> list[tuple[Tier, int, int]]:
        """Each tier with its (valid tickets, live holds), read in one snapshot."""
        tiers = await self.tiers(show_id)
        async with self.engine.connect() as conn:
            figures = await counts(conn, [x.id for x in tiers], self.clock())
        return [(x, *figures[x.id]) for x in tiers]

    async def revenue(self, show_id: str) -> dict[str, int]:
        """Per tier, what its valid tickets were paid (minor units, gross of fees; comps are 0,
        refunded tickets count no more)."""
        k, o = t.tickets.c, t.orders.c
        q = (sa.select(k.tier_id, sa.func.coalesce(sa.func.sum(o.amount), 0))
             .select_from(t.tickets.join(t.orders, o.id == k.order_id))
             .where(k.show_id == show_id, k.status == TicketStatus.VALID.value).group_by(k.tier_id))
        async with self.engine.connect() as conn:
            return {tier_id: int(total) for tier_id, total in await conn.execute(q)}

    async def add_tier(self, show_id: str, fields: dict[str, Any]) -> Tier:
        await self.show(show_id)
        tier = Tier(id=new_id("tier"), show_id=show_id, **{k: v for k, v in fields.items() if k in TIER_FIELDS})
        tier.check()
        async with self.writer.begin() as conn:
            have = (await conn.execute(sa.select(sa.func.count()).select_from(t.tiers)
                                       .where(t.tiers.c.show_id == show_id))).scalar_one()
            if have >= MAX_TIERS:
                raise InvalidTier(f"a show has at most {MAX_TIERS} tiers")
            await conn.execute(t.tiers.insert().values(**asdict(tier), created_at=self.clock()))
        return tier

    async def update_tier(self, show_id: str, tier_id: str, fields: dict[str, Any]) -> Tier:
        """Change a tier under its lock (a quantity change races with buyers otherwise)."""
        await self.tier(show_id, tier_id)
        async with self.writer.begin() as conn:
            tier = replace(await self.writer.lock_tier(conn, tier_id),
                           **{k: v for k, v in fields.items() if k in TIER_FIELDS})
            tier.check()
            await conn.execute(t.tiers.update().where(t.tiers.c.id == tier_id)
                               .values(**{k: getattr(tier, k) for k in TIER_FIELDS}))
        return tier
