"""Room-list thumbnails across nodes (issue 15): two ``notalabel serve`` processes on one Redis
and one PostgreSQL; ffmpeg publishes a red picture to A; B, which does not hold the stream,
serves A's still (found through the room directory), fetching it once per interval however
many ask; once the stream ends both answer 404 again."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from tests.conftest import REDIS_URL, pg_url
from tests.media.test_thumbnail import mean_rgb
from tests.server.test_cluster import pg_schema  # noqa: F401 - fixture
from tests.server.test_live_media import make_room, wait_for_state
from tests.server.test_media_cluster import holder, metric
from tests.static.test_thumbnails import RED_SOURCE
from tests.support.wait import wait_until

MADE = r'nal_hub_thumbnails_total\{result="made"\}'


async def _thumbnail(http: aiohttp.ClientSession, node: Any, slug: str) -> tuple[int, bytes]:
    async with http.get(f"{node.url}/api/rooms/{slug}/thumbnail.jpg") as r:
        return r.status, await r.read()


async def test_a_node_without_the_stream_serves_the_holders_still(
        server_process: Any, pg_schema: str, redis_prefix: str) -> None:  # noqa: F811
    common = {"database": pg_url(pg_schema), "redis": REDIS_URL, "redis_prefix": redis_prefix,
              "secret_key": "cluster secret " + redis_prefix, "thumbnail_interval_s": 3600, "reconnect_grace_s": 1}
    a, b = server_process(**common), server_process(**common)
    redis = aioredis.from_url(REDIS_URL)
    prefix = redis_prefix
    try:
        async with aiohttp.ClientSession() as http:
            room = await make_room(http, a.url)
            for node in (a, b):
                status, body = await _thumbnail(http, node, room.slug)
                assert status == 404 and b"no_thumbnail" in body
            ffmpeg = await asyncio.create_subprocess_exec(*RED_SOURCE, f"{a.rtmp_url}/{room.stream_key}")
            try:
                await wait_for_state(http, a, room, "live", timeout=60)
                assert await holder(redis, prefix, room.slug) == a.url
                status, jpeg = await wait_until(lambda: _thumbnail(http, b, room.slug), lambda t: t[0] == 200, timeout=60)
                size, (red, green, blue) = mean_rgb(jpeg)
                assert size == (480, 270) and red > 180 and green < 70 and blue < 70, (size, red, green, blue)
                assert (await _thumbnail(http, a, room.slug)) == (200, jpeg)  # the holder's own still
                asks = await asyncio.gather(*[_thumbnail(http, b, room.slug) for _ in range(20)])
                assert all(ask == (200, jpeg) for ask in asks)
                assert await metric(http, a, MADE) == 1  # decoded once, on A
                assert await metric(http, b, MADE) == 0  # B holds no stream and decodes nothing
            finally:
                if ffmpeg.returncode is None:
                    ffmpeg.kill()
                await ffmpeg.wait()
            await wait_for_state(http, a, room, "offline", timeout=60)
            await wait_until(lambda: holder(redis, prefix, room.slug), lambda h: h is None, timeout=30)
            for node in (a, b):  # B kept the still for an hour, but no node holds the room now
                status, body = await _thumbnail(http, node, room.slug)
                assert status == 404 and b"no_thumbnail" in body
    finally:
        await redis.aclose()
