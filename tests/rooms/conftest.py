"""Fixtures for the rooms tests: real Redis (REDIS_URL) with a fresh key prefix, and a
throwaway redis-server we can kill and restart."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.redis_server import RedisServer

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"test-{secrets.token_hex(6)}"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class ThrowawayRedis(RedisServer):
    """A redis-server without persistence on a free port, for restart tests."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, persistent=False)


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path / "throwaway-redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def eventually(check: object, timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true (polling; tests assert behaviour, not speed)."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
