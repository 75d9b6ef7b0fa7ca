"""Shared fixtures: databases (SQLite and real PostgreSQL), Redis, server processes.

In CI (``CI=true``) a skipped test is turned into a failure: every integration test must run.
Hypothesis runs without its per-example deadline (200 ms by default): that is a timed
assertion, and on a loaded 2-core box a slow example failed a property that held.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import settings

from tests.support.servers import ServerProcess, free_port

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PG_BASE = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

settings.register_profile("notalabel", deadline=None)
settings.load_profile("notalabel")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() == "true" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {report.longrepr}"


def pg_url(schema: str) -> str:
    sep = "&" if "?" in PG_BASE else "?"
    return f"{PG_BASE}{sep}schema={schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test: a SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    yield pg_url(schema)
    drop_pg_schema(schema)


def drop_pg_schema(schema: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_BASE.split("?")[0])
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture
def redis_prefix() -> str:
    return "test-" + uuid.uuid4().hex[:10]


@pytest.fixture
async def api(aiohttp_client: Any, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    """An in-process server on a real loopback port, on each database."""
    from server.app import make_app
    from server.config import Settings

    settings = Settings(data_dir=str(tmp_path), database=database_url, http=f"127.0.0.1:{free_port()}")
    app = await make_app(settings)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    yield client


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Any]:
    """Start ``notalabel serve`` processes: ``server_process(**settings) -> ServerProcess``."""
    started: list[ServerProcess] = []

    def start(**settings: Any) -> ServerProcess:
        proc = ServerProcess(tmp_path / f"node{len(started)}", settings)
        started.append(proc)
        proc.start()
        return proc

    yield start
    for proc in started:
        proc.stop()
