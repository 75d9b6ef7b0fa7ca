"""The owner ends a stream: rotating the key ends a publish made with the old key (RTMP and
WHIP), and ``POST /api/rooms/{slug}/stream/end`` ends it at once (owner only).

Real peers through ``notalabel serve``: ffmpeg publishing over RTMP as OBS does, an aiortc
WHIP publisher; two nodes sharing Redis and PostgreSQL when the owner's request lands on
the node that does not hold the stream.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import REDIS_URL, drop_pg_schema, pg_url
from tests.media.webrtc.support import Publisher, make_source
from tests.server.test_live import ffmpeg_publish

PASSWORD = "correct horse battery"
LOOPBACK = {"webrtc_host_addresses": "127.0.0.1"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def account(http: aiohttp.ClientSession, base: str) -> dict[str, str]:
    name = "u" + uuid.uuid4().hex[:10]
    r = await http.post(f"{base}/api/accounts", json={"username": name, "password": PASSWORD})
    assert r.status == 201, await r.text()
    r = await http.post(f"{base}/api/sessions", json={"username": name, "password": PASSWORD})
    token = (await r.json())["token"]
    http.cookie_jar.clear()
    return {"Authorization": f"Bearer {token}"}


async def owned_room(http: aiohttp.ClientSession, base: str) -> tuple[str, str, dict[str, str]]:
    owner = await account(http, base)
    r = await http.post(f"{base}/api/rooms", json={"title": "Ends"}, headers=owner)
    room = await r.json()
    return room["slug"], room["stream_key"], owner


async def state(http: aiohttp.ClientSession, base: str, slug: str) -> str:
    r = await http.get(f"{base}/api/rooms/{slug}/stream")
    value: str = (await r.json())["state"]
    return value


async def wait_state(http: aiohttp.ClientSession, base: str, slug: str, wanted: str) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while (current := await state(http, base, slug)) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"still {current}, never {wanted}"
        await asyncio.sleep(0.1)


async def ended(proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """ffmpeg's exit code once the server closed its connection (it would run 120 s)."""
    return await asyncio.to_thread(proc.wait, timeout)


async def bad_keys(http: aiohttp.ClientSession, base: str) -> float:
    text = await (await http.get(f"{base}/metrics")).text()
    match = re.search(r'^nal_rtmp_rejected_total\{reason="bad_key"\} (\S+)$', text, re.M)
    return float(match[1]) if match else 0.0


async def whip_sessions(http: aiohttp.ClientSession, base: str) -> float:
    text = await (await http.get(f"{base}/metrics")).text()
    match = re.search(r'^nal_webrtc_sessions\{kind="whip"\} (\S+)$', text, re.M)
    assert match, "no WHIP session gauge"
    return float(match[1])


async def test_rotating_the_key_and_ending_the_stream_close_an_rtmp_publisher(
    server_process: Any, http: aiohttp.ClientSession
) -> None:
    srv = server_process()
    slug, key, owner = await owned_room(http, srv.url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(ffmpeg_publish(f"{srv.rtmp_url}/{key}", seconds=120))
        await wait_state(http, srv.url, slug, "live")

        r = await http.post(f"{srv.url}/api/rooms/{slug}/stream-key", headers=owner)
        assert r.status == 200
        body = await r.json()
        assert body["stream_ended"] is True and body["stream_key"] != key
        assert await ended(procs[0]) != 0  # its connection was closed
        assert await state(http, srv.url, slug) == "offline"  # at once: no reconnect grace

        before = await bad_keys(http, srv.url)
        procs.append(ffmpeg_publish(f"{srv.rtmp_url}/{key}", seconds=120))  # OBS reconnecting
        assert await ended(procs[1]) != 0
        assert await bad_keys(http, srv.url) == before + 1
        assert await state(http, srv.url, slug) == "offline"

        key = body["stream_key"]
        procs.append(ffmpeg_publish(f"{srv.rtmp_url}/{key}", seconds=120))
        await wait_state(http, srv.url, slug, "live")
        stranger = await account(http, srv.url)
        r = await http.post(f"{srv.url}/api/rooms/{slug}/stream/end", headers=stranger)
        assert r.status == 403 and (await r.json())["error"]
        r = await http.post(f"{srv.url}/api/rooms/{slug}/stream/end")
        assert r.status == 401 and (await r.json())["error"]
        assert procs[2].poll() is None and await state(http, srv.url, slug) == "live"

        r = await http.post(f"{srv.url}/api/rooms/{slug}/stream/end", headers=owner)
        assert r.status == 200
        assert await r.json() == {"slug": slug, "state": "offline", "ended": True}
        assert await ended(procs[2]) != 0
        assert await state(http, srv.url, slug) == "offline"
        r = await http.post(f"{srv.url}/api/rooms/{slug}/stream/end", headers=owner)
        assert (await r.json())["ended"] is False
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


async def test_rotating_the_key_ends_a_whip_publisher(
    server_process: Any, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    srv = server_process(**LOOPBACK)
    slug, key, owner = await owned_room(http, srv.url)
    source = make_source(tmp_path / "src.ts", seconds=30)
    publisher, _ = await Publisher.offer(source)
    again, _ = await Publisher.offer(source)
    try:
        status, body, _ = await publisher.publish(http, srv.url, slug, key=key)
        assert status == 201, body
        await wait_state(http, srv.url, slug, "live")
        assert await whip_sessions(http, srv.url) == 1

        r = await http.post(f"{srv.url}/api/rooms/{slug}/stream-key", headers=owner)
        assert (await r.json())["stream_ended"] is True
        assert await state(http, srv.url, slug) == "offline"
        assert await whip_sessions(http, srv.url) == 0  # its peer connection was closed

        status, body, _ = await again.publish(http, srv.url, slug, key=key)
        assert status == 403, body
    finally:
        await publisher.close()
        await again.close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    drop_pg_schema(schema)


async def test_the_owner_ends_a_stream_held_by_another_node(
    server_process: Any, redis_prefix: str, pg_schema: str, http: aiohttp.ClientSession
) -> None:
    """ffmpeg publishes to node A; the owner's requests land on node B (one Redis, one
    PostgreSQL): the room's ``stream.end`` event makes A end it."""
    common = {"database": pg_url(pg_schema), "redis": REDIS_URL, "redis_prefix": redis_prefix}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        a, b = server_process(**common), server_process(**common)
        slug, key, owner = await owned_room(http, b.url)
        procs.append(ffmpeg_publish(f"{a.rtmp_url}/{key}", seconds=120))
        await wait_state(http, a.url, slug, "live")

        r = await http.post(f"{b.url}/api/rooms/{slug}/stream/end", headers=owner)
        assert r.status == 200
        assert (await r.json())["ended"] is False  # not held by B
        assert await ended(procs[0]) != 0  # A closed the connection
        await wait_state(http, a.url, slug, "offline")

        procs.append(ffmpeg_publish(f"{a.rtmp_url}/{key}", seconds=120))  # the key still works
        await wait_state(http, a.url, slug, "live")
        r = await http.post(f"{b.url}/api/rooms/{slug}/stream-key", headers=owner)
        assert r.status == 200
        assert await ended(procs[1]) != 0
        await wait_state(http, a.url, slug, "offline")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
