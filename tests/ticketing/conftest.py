"""A migrated database (SQLite file or a fresh PostgreSQL schema) with one room and users."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server import tables as st
from tests.payments.conftest import close_db, open_db
from ticketing.catalog import Catalog
from ticketing.db import Writer
from ticketing.sales import Sales


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Box:
    engine: AsyncEngine
    clock: Clock
    catalog: Catalog
    sales: Sales
    room_id: int
    users: list[int]

    def sales_with(self, hold_s: float) -> Sales:
        return Sales(self.engine, self.catalog.writer, hold_s, self.clock)


async def add_users(engine: AsyncEngine, n: int, start: int = 1) -> list[int]:
    rows = [{"id": i, "username": f"fan{i}", "password_hash": "x", "created_at": 0.0} for i in range(start, start + n)]
    async with engine.begin() as conn:
        await conn.execute(st.users.insert(), rows)
    return [r["id"] for r in rows]  # type: ignore[misc]


@pytest.fixture(params=["sqlite", "postgresql"])
async def box(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Box]:
    db, schema = await open_db(request.param, tmp_path)
    users = await add_users(db.engine, 310)
    async with db.engine.begin() as conn:
        room_id = (await conn.execute(st.rooms.insert().values(
            slug="gig", title="Gig", owner_id=users[0], stream_key_hash="h", created_at=0.0)
            .returning(st.rooms.c.id))).scalar_one()
        if db.is_pg:
            await conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('users', 'id'), 400)"))
    clock = Clock()
    writer = Writer(db.engine)
    make: Callable[[], float] = clock
    try:
        yield Box(db.engine, clock, Catalog(db.engine, writer, make), Sales(db.engine, writer, 600, make),
                  room_id, users)
    finally:
        await close_db(db, schema)
