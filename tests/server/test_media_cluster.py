"""Media across nodes: ``notalabel serve`` processes on one Redis and one PostgreSQL.

The room directory (server.directory): the node holding a room's ingest names itself in
Redis while the stream is live; a publisher for the same room on another node is refused
as on one node (RTMP and WHIP); the entry goes when the stream ends and on SIGTERM drain.

LL-HLS from any node (media.hls.edge): ffprobe plays the room from a node without the
ingest; behind nginx's proxy_cache (the CDN stand-in) in front of that node, many
LL-HLS clients following the live edge with blocking reloads cause at most one origin
request per part (the origin's nal_hls_requests_total).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiortc import RTCPeerConnection

from server.directory import MemoryDirectory, RedisDirectory
from tests.conftest import REDIS_URL, pg_url
from tests.server.test_cluster import account, pg_schema  # noqa: F401 - fixture
from tests.server.test_live_media import (
    Encode,
    Publisher,
    Room,
    check_packets,
    ffprobe,
    make_room,
    publish,
    wait_for_playlist,
    wait_for_state,
)
from tests.support.httpcache import HttpCache
from tests.support.roomsocket import RoomSocket

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
    # One --secret-key for the cluster: a viewing token signed on one node is checked on another.
    common = {"database": pg_url(schema), "redis": REDIS_URL, "redis_prefix": prefix,
              "secret_key": "cluster secret " + prefix}
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


async def test_a_silent_publisher_is_taken_over_from_another_node(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
    redis: aioredis.Redis, publishers: list[Publisher],
) -> None:
    """OBS froze on one machine with its connection to A open; the performer goes live again
    from another machine that the load balancer sends to B."""
    a, b = nodes(server_process, pg_schema, redis_prefix)
    room = await make_room(http, a.url)
    first = publish(publishers, a, room, Encode("640x360", 30, seconds=60))
    await wait_for_playlist(http, f"{a.url}/live/{room.slug}/index.m3u8", segments=1)
    fan = await RoomSocket.connect(http, b.ws_url, room.slug)
    os.kill(first.proc.pid, signal.SIGSTOP)  # silent, its connection open
    await until(lambda: holder(redis, redis_prefix, room.slug), None, timeout=20)
    publish(publishers, b, room, Encode("640x360", 30, seconds=60))
    await wait_for_state(http, b, room, "live")
    assert await holder(redis, redis_prefix, room.slug) == b.url
    await wait_for_state(http, a, room, "offline")  # A ended its own stream of the room
    text = await wait_for_playlist(http, f"{a.url}/live/{room.slug}/index.m3u8", segments=1)
    b_text = await wait_for_playlist(http, f"{b.url}/live/{room.slug}/index.m3u8", segments=1)
    assert text.split("seg-")[0].rsplit("\n", 1)[-1] == b_text.split("seg-")[0].rsplit("\n", 1)[-1]
    assert await metric_sum(http, a, "nal_hls_edge_upstream_total", kind="playlist") >= 1
    # The room heard B go live; A's end of its own stream is no "offline" for the room.
    await fan.wait_for(lambda: "live" in [e["data"]["state"] for e in fan.of_type("stream.state")])
    states = [e["data"]["state"] for e in fan.of_type("stream.state")]
    assert "offline" not in states, states
    await fan.close()


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


async def metric_sum(http: aiohttp.ClientSession, node: Any, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    text = await (await http.get(f"{node.url}/metrics")).text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="((?:[0-9a-z]+-)part-(\d+)-(\d+)\.m4s)"')


class Follower:
    """A lightweight LL-HLS client: a blocking reload for the hinted part, then that part."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.parts: list[str] = []
        self.reloads: set[str] = set()
        self.cache_hits = 0

    async def get(self, url: str) -> tuple[bytes, aiohttp.ClientResponse]:
        async with self.http.get(url) as r:
            body = await r.read()
            assert r.status == 200, (url, r.status, body[:200])
            self.cache_hits += r.headers.get("X-Cache") == "HIT"
            return body, r

    async def follow(self, parts: int) -> None:
        text = (await self.get(f"{self.base}/index.m3u8"))[0].decode()
        hint = HINT.search(text)
        assert hint is not None, text
        while len(self.parts) < parts:
            name, msn, index = hint.group(1), hint.group(2), hint.group(3)
            reload = f"{self.base}/index.m3u8?_HLS_msn={msn}&_HLS_part={index}"
            self.reloads.add(reload)
            body, r = await self.get(reload)
            assert "max-age" in r.headers["Cache-Control"]
            hint = HINT.search(body.decode())
            assert hint is not None and f'URI="{name}"' in body.decode()
            media, r = await self.get(f"{self.base}/{name}")
            assert media and r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            self.parts.append(name)


async def test_any_node_serves_ll_hls_and_a_cdn_in_front_asks_the_origin_once_per_part(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
    publishers: list[Publisher], tmp_path: Path,
) -> None:
    a, b = nodes(server_process, pg_schema, redis_prefix)
    room = await make_room(http, a.url)
    publish(publishers, a, room, Encode("640x360", 30, seconds=120))
    await wait_for_playlist(http, f"{a.url}/live/{room.slug}/index.m3u8", segments=3)

    # ffprobe plays the room from B, which does not hold the ingest.
    result = await ffprobe(f"{b.url}/live/{room.slug}/index.m3u8")
    kinds = {stream["codec_type"]: stream for stream in result["streams"]}
    assert set(kinds) == {"video", "audio"}
    for stream in kinds.values():
        check_packets(result, stream)
    assert await metric_sum(http, b, "nal_hls_edge_upstream_total", kind="segment") >= 1

    cache = HttpCache(tmp_path / "cdn", b.url)
    cache.start()
    try:
        before = await metric_sum(http, a, "nal_hls_requests_total", kind="part")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as viewers:
            followers = [Follower(viewers, f"{cache.url}/live/{room.slug}") for _ in range(60)]
            await asyncio.wait_for(asyncio.gather(*(f.follow(parts=8) for f in followers)), 120)
        after = await metric_sum(http, a, "nal_hls_requests_total", kind="part")
    finally:
        cache.stop()
    distinct = {name for f in followers for name in f.parts}
    fetched = sum(len(f.parts) for f in followers)
    assert fetched == 60 * 8
    # Every part any viewer got reached the origin at most once (ffprobe asked for none).
    assert 0 < after - before <= len(distinct), (after - before, len(distinct))
    edge_parts = await metric_sum(http, b, "nal_hls_edge_upstream_total", kind="part")
    assert edge_parts <= len(distinct)
    assert sum(f.cache_hits for f in followers) > 0

    # Without the CDN, the edge itself asks once per part however many viewers ask it.
    before = after
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as viewers:
        direct = [Follower(viewers, f"{b.url}/live/{room.slug}") for _ in range(40)]
        await asyncio.wait_for(asyncio.gather(*(f.follow(parts=6) for f in direct)), 120)
    after = await metric_sum(http, a, "nal_hls_requests_total", kind="part")
    distinct = {name for f in direct for name in f.parts}
    assert 0 < after - before <= len(distinct), (after - before, len(distinct))
    assert await metric_sum(http, b, "nal_hls_edge_served_total", kind="part", source="shared") > 0


async def test_a_gated_room_needs_its_viewing_token_at_the_edge_and_is_not_shared(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
    publishers: list[Publisher],
) -> None:
    a, b = nodes(server_process, pg_schema, redis_prefix)
    owner = {"Authorization": f"Bearer {await account(http, a.url, 'owner')}"}
    fan = {"Authorization": f"Bearer {await account(http, a.url, 'fan1')}"}
    room = await (await http.post(f"{a.url}/api/rooms", json={"title": "Gated"}, headers=owner)).json()
    slug = room["slug"]
    r = await http.post(f"{a.url}/api/rooms/{slug}/shows", headers=owner,
                        json={"title": "Live", "starts_at": "2030-01-01T20:00:00Z"})
    show_id = (await r.json())["id"]
    r = await http.post(f"{a.url}/api/shows/{show_id}/tiers", headers=owner,
                        json={"name": "std", "price": 1000, "latency_class": "standard", "chat": False})
    tier_id = (await r.json())["id"]
    r = await http.post(f"{a.url}/api/shows/{show_id}/comps", headers=owner,
                        json={"username": "fan1", "tier_id": tier_id})
    assert r.status == 201, await r.text()
    r = await http.post(f"{b.url}/api/shows/{show_id}/viewing-sessions", json={}, headers=fan)
    assert r.status == 201, await r.text()
    token = (await r.json())["token"]
    publish(publishers, a, Room(slug, room["stream_key"]), Encode("640x360", 30, seconds=60))
    await wait_for_playlist(http, f"{a.url}/live/{slug}/index.m3u8?vt={token}", segments=1)

    r = await http.get(f"{b.url}/live/{slug}/index.m3u8")
    assert r.status == 403  # checked at the edge
    r = await http.get(f"{b.url}/live/{slug}/index.m3u8?vt=forged")
    assert r.status == 403
    text = await wait_for_playlist(http, f"{b.url}/live/{slug}/index.m3u8?vt={token}", segments=1)
    r = await http.get(f"{b.url}/live/{slug}/index.m3u8?vt={token}")
    assert r.status == 200 and r.headers["Cache-Control"] == "private, max-age=1"
    part = re.search(r'URI="([^"]+part-[^"]+)"', text)
    assert part is not None and part.group(1).endswith(f"?vt={token}")
    r = await http.get(f"{b.url}/live/{slug}/{part.group(1)}")
    assert r.status == 200 and r.headers["Cache-Control"].startswith("private")
    r = await http.get(f"{b.url}/live/{slug}/{part.group(1).split('?')[0]}")
    assert r.status == 403  # a part pulled for one viewer is not served to anyone else
    # native HLS: an expired ?vt= with the heartbeat's nal_vt cookie; the edge passes the cookie's token on
    r = await http.get(f"{b.url}/live/{slug}/index.m3u8?vt=expired", headers={"Cookie": f"nal_vt={token}"})
    assert r.status == 200 and f"?vt={token}" in await r.text() and "vt=expired" not in await r.text()
