"""A room's split sheet, as stored: who shares what the room earns.

The sheet is a JSON list of lines ``{"party", "bps", "role", "name"}`` on the room (NULL
means the owner gets it all, as artist). It is read when a checkout starts and fixed in
the payment (``payments.checkout``), so changing it never changes money already taken.
A line's party is ``user:{id}`` or, for a songwriter or publisher who has not joined yet,
``invite:{id}`` (``server.api_splits``: the share accrues there until it is claimed).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments import tables as pt
from payments.accounts import AccountKind
from payments.errors import UnbalancedTransaction
from payments.ledger import Ledger
from payments.splits import Role, Share, SplitSheet
from server import tables as t
from server.store import RoomRow

INVITE_PREFIX = "invite:"


def invite_party(invitation_id: str) -> str:
    return INVITE_PREFIX + invitation_id


def owner_sheet(room: RoomRow) -> SplitSheet:
    return SplitSheet((Share(f"user:{room.owner_id}", 10_000, Role.ARTIST, room.owner),))


def sheet_of(raw: str | None, room: RoomRow) -> SplitSheet:
    if not raw:
        return owner_sheet(room)
    lines: list[dict[str, Any]] = json.loads(raw)
    return SplitSheet(tuple(Share(str(x["party"]), int(x["bps"]), Role(x["role"]), str(x.get("name", "")))
                            for x in lines))


def sheet_json(sheet: SplitSheet) -> str:
    return json.dumps([{"party": s.party, "bps": s.bps, "role": s.role.value, "name": s.name} for s in sheet.shares],
                      separators=(",", ":"))


async def stored(conn: AsyncConnection, room_id: int) -> str | None:
    raw = await conn.scalar(sa.select(t.rooms.c.split_sheet).where(t.rooms.c.id == room_id))
    return raw if isinstance(raw, str) else None


async def room_sheet(engine: AsyncEngine, room: RoomRow) -> SplitSheet:
    async with engine.connect() as conn:
        return sheet_of(await stored(conn, room.id), room)


async def sweep(engine: AsyncEngine, ledger: Ledger, claims: list[tuple[str, int]] | None = None) -> dict[str, int]:
    """Move what accrued to claimed invitations to their claimers (every claim, or ``claims``:
    (invitation id, user id)); per currency, what moved. Safe to repeat and to race."""
    if claims is None:
        i = t.split_invitations.c
        async with engine.connect() as conn:
            claims = [(x, int(y)) for x, y in await conn.execute(
                sa.select(i.id, i.claimed_by).where(i.claimed_by.is_not(None)))]
    moved: dict[str, int] = {}
    a = pt.accounts.c
    for inv_id, user_id in claims:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(a.currency, a.balance).where(
                a.party == invite_party(inv_id), a.kind == AccountKind.EARNINGS.value))).all()
        for cur, balance in rows:
            if balance == 0:
                continue
            try:
                await ledger.record_claim(invite_party(inv_id), f"user:{user_id}", cur)
            except UnbalancedTransaction:
                continue  # another node moved it first
            moved[cur] = moved.get(cur, 0) + int(balance)
    return moved
