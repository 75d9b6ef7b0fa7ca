"""The hub that holds a stream is its truth: a room snapshot says live even when Redis lost
every room event (Redis restarted empty), because the node holding the stream answers for it.

Real peers: ``notalabel serve`` with a real Redis, ffmpeg publishing over RTMP, a room socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.conftest import REDIS_URL
from tests.server.test_live import ffmpeg_publish, make_owner_room
from tests.support.roomsocket import RoomSocket


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def flush_prefix(prefix: str) -> int:
    """Delete every key of this test's prefix: what a Redis that restarted empty holds."""
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        return len(keys)
    finally:
        await client.aclose()


async def wait_live(http: aiohttp.ClientSession, base: str, slug: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        r = await http.get(f"{base}/api/rooms/{slug}/stream")
        if (await r.json())["state"] == "live":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the stream never went live")


async def test_snapshot_says_live_after_redis_lost_the_room(
    server_process: Any, redis_prefix: str, http: aiohttp.ClientSession
) -> None:
    srv = server_process(redis=REDIS_URL, redis_prefix=redis_prefix)
    slug, key, _token = await make_owner_room(http, srv.url)
    publisher = ffmpeg_publish(f"{srv.rtmp_url}/{key}", seconds=60)
    try:
        await wait_live(http, srv.url, slug)
        assert await flush_prefix(redis_prefix) > 0  # the stream.state event is gone

        fan = await RoomSocket.connect(http, srv.ws_url, slug)  # this node loads the room now
        assert fan.snapshot is not None
        stream = fan.snapshot["data"]["stream"]
        assert stream["state"] == "live", stream
        assert stream["slug"] == slug
        await fan.ws.close()
    finally:
        publisher.kill()
        await asyncio.to_thread(publisher.wait, 10)

