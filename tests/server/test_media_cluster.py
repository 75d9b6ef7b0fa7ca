"""Media across nodes: ``notalabel serve`` processes on one Redis and one PostgreSQL.

The room directory (server.directory): the node holding a room's ingest names itself in
Redis while the stream is live; a publisher for the same room on another node is refused
as on one node (RTMP and WHIP); the entry goes when the stream ends and on SIGTERM drain.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiortc import RTCPeerConnection

from server.directory import MemoryDirectory, RedisDirectory
from tests.conftest import REDIS_URL, pg_url
from tests.server.test_cluster import pg_schema  # noqa: F401 - fixture
from tests.server.test_live_media import (
    Encode,
    Publisher,
    make_room,
    publish,
    wait_for_playlist,
    wait_for_state,
)

__all__ = ["pg_schema"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def publishers() -> Any:
    started: list[Publisher] = []
    yield started
    for publisher in started:
        publisher.kill()


def nodes(server_process: Any, schema: str, prefix: str, count: int = 2) -> list[Any]:
    common = {"database": pg_url(schema), "redis": REDIS_URL, "redis_prefix": prefix}
    return [server_process(**common) for _ in range(count)]


async def whip_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendonly")
    pc.addTransceiver("audio", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


async def holder(redis: aioredis.Redis, prefix: str, slug: str) -> str | None:
    value = await redis.get(f"{prefix}:live:{slug}")
    return value.decode() if value is not None else None


async def until(get: Callable[[], Awaitable[object]], wanted: object, timeout: float = 10.0) -> None:
    """Poll ``await get()`` until it equals ``wanted``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (value := await get()) != wanted:
        assert loop.time() < deadline, f"still {value!r}, not {wanted!r}"
        await asyncio.sleep(0.02)


async def metric(http: aiohttp.ClientSession, node: Any, pattern: str) -> float:
    text = await (await http.get(f"{node.url}/metrics")).text()
    match = re.search(pattern + r" ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_directory_claims_refreshes_and_releases(kind: str, redis: aioredis.Redis, redis_prefix: str) -> None:
    now = [0.0]
    rooms = MemoryDirectory(clock=lambda: now[0]) if kind == "memory" else RedisDirectory(redis, redis_prefix)
    assert await rooms.claim("r", "http://a", 30) is None
    assert await rooms.claim("r", "http://a", 30) is None  # a refresh
    assert await rooms.claim("r", "http://b", 30) == "http://a"
    assert await rooms.lookup("r") == "http://a"
    await rooms.release("r", "http://b")  # not b's to drop
    assert await rooms.lookup("r") == "http://a"
    await rooms.release("r", "http://a")
    assert await rooms.lookup("r") is None
    assert await rooms.claim("r", "http://b", 0.05) is None
    now[0] += 1  # the memory clock; Redis expires the key by itself
    await until(lambda: rooms.lookup("r"), None)
    assert await rooms.claim("r", "http://a", 30) is None


async def test_second_publisher_on_another_node_is_refused_and_the_entry_follows_the_stream(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
    redis: aioredis.Redis, publishers: list[Publisher],
) -> None:
    a, b = nodes(server_process, pg_schema, redis_prefix)
    room = await make_room(http, a.url)
    publish(publishers, a, room, Encode("640x360", 30, seconds=8))
    await wait_for_state(http, a, room, "live")
    assert await holder(redis, redis_prefix, room.slug) == a.url

    second = publish(publishers, b, room, Encode("640x360", 30, seconds=3))
    code, _err = await asyncio.to_thread(second.wait)
    assert code != 0
    assert await metric(http, b, r'nal_rtmp_rejected_total\{reason="already_publishing"\}') >= 1
    r = await http.post(f"{b.url}/whip/{room.slug}", data=await whip_offer(),
                        headers={"Authorization": f"Bearer {room.stream_key}", "Content-Type": "application/sdp"})
    assert r.status == 409, await r.text()
    assert (await r.json())["error"] == "already_publishing"
    assert (await wait_for_state(http, a, room, "live"))["session"] == 1

    # ffmpeg ends after its seconds: the stream goes reconnecting, then offline.
    await until(lambda: holder(redis, redis_prefix, room.slug), None, timeout=30)

    # Now B may take the room.
    publish(publishers, b, room, Encode("640x360", 30, seconds=30))
    await wait_for_state(http, b, room, "live")
    assert await holder(redis, redis_prefix, room.slug) == b.url


async def test_sigterm_drain_removes_the_entry(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
    redis: aioredis.Redis, publishers: list[Publisher],
) -> None:
    a, _b = nodes(server_process, pg_schema, redis_prefix)
    room = await make_room(http, a.url)
    publish(publishers, a, room, Encode("640x360", 30, seconds=60))
    await wait_for_playlist(http, f"{a.url}/live/{room.slug}/index.m3u8", segments=1)
    assert await holder(redis, redis_prefix, room.slug) == a.url
    assert await asyncio.to_thread(a.terminate) == 0
    assert await holder(redis, redis_prefix, room.slug) is None
