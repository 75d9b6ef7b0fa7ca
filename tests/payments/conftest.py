"""Database fixtures: the same ledger tests run on SQLite and on real PostgreSQL.

PostgreSQL tests each get a fresh random schema (``?schema=``), dropped afterwards.
``DATABASE_URL`` overrides the server URL, as in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import make_engine, migrate

PG_BASE = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test").split("?")[0]


@dataclass
class DB:
    engine: AsyncEngine
    url: str

    @property
    def is_pg(self) -> bool:
        return self.engine.dialect.name == "postgresql"


def pg_url() -> tuple[str, str]:
    schema = f"t_ledger_{uuid.uuid4().hex[:12]}"
    return f"{PG_BASE}?schema={schema}", schema


async def open_db(kind: str, tmp_path: Path) -> tuple[DB, str | None]:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        schema = None
    else:
        url, schema = pg_url()
    engine = make_engine(url)
    await migrate(engine, url)
    return DB(engine, url), schema


async def close_db(db: DB, schema: str | None) -> None:
    if schema is not None:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DB]:
    opened, schema = await open_db(request.param, tmp_path)
    try:
        yield opened
    finally:
        await close_db(opened, schema)


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[DB]:
    opened, schema = await open_db("postgresql", tmp_path)
    try:
        yield opened
    finally:
        await close_db(opened, schema)
