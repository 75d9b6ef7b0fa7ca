"""End to end: ffmpeg publishes to `notalabel serve` like OBS, the owner adds restream
targets over HTTP, the server restreams to nginx (standing in for YouTube and Twitch), and
ffprobe pulls from nginx; HLS viewers keep watching; the key never reaches the log."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.relay.feed import assert_h264_aac_continuous, probe
from tests.relay.nginx import Nginx

PASSWORD = "correct horse"
YT_KEY = "yt-e2e-secret-key-7777"
TW_KEY = "tw-e2e-secret-key-8888"


def ffmpeg_publish(url: str, seconds: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
         "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-g", "30",
         "-c:a", "aac", "-t", str(seconds), "-f", "flv", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[Nginx]:
    server = Nginx(tmp_path / "nginx")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _until(check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_restream_from_a_real_server(server_process: Any, ingest: Nginx, http: aiohttp.ClientSession) -> None:
    srv = server_process(reconnect_grace_s=1, relay_allow_private=True)  # nginx is on loopback
    await http.post(f"{srv.url}/api/accounts", json={"username": "perf", "password": PASSWORD})
    r = await http.post(f"{srv.url}/api/sessions", json={"username": "perf", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
    http.cookie_jar.clear()
    room = await (await http.post(f"{srv.url}/api/rooms", json={"title": "E2E"}, headers=auth)).json()
    base = f"{srv.url}/api/rooms/{room['slug']}/restreams"
    ids = []
    for app, key in (("yt", YT_KEY), ("tw", TW_KEY)):
        r = await http.post(base, json={"platform": "custom", "url": ingest.url(app), "key": key}, headers=auth)
        assert r.status == 201, await r.text()
        ids.append((await r.json())["id"])

    async def states() -> list[str]:
        listing = await (await http.get(base, headers=auth)).json()
        return [t["status"]["state"] for t in listing["restreams"]]

    publisher = ffmpeg_publish(f"{srv.rtmp_url}/{room['stream_key']}", seconds=25)
    try:
        await _until(lambda: _eq(states(), ["live", "live"]), 30, "both targets live")
        results = await asyncio.gather(probe(f"{ingest.url('yt')}/{YT_KEY}"), probe(f"{ingest.url('tw')}/{TW_KEY}"))
        for result in results:
            assert_h264_aac_continuous(result)
        r = await http.get(f"{srv.url}/live/{room['slug']}/index.m3u8")
        assert r.status == 200  # HLS viewers are served alongside
        # The owner disables one target while live; the other goes on.
        r = await http.patch(f"{base}/{ids[1]}", json={"enabled": False}, headers=auth)
        assert (await r.json())["status"]["state"] == "idle"
        assert await states() == ["live", "idle"]
        listing = await (await http.get(base, headers=auth)).json()
        assert listing["restreams"][0]["status"]["bytes"] > 0
    finally:
        publisher.kill()
        publisher.wait(10)
    await _until(lambda: _eq(states(), ["idle", "idle"]), 20, "targets idle after the show")
    metrics = await (await http.get(f"{srv.url}/metrics")).text()
    assert "nal_relay_bytes_total" in metrics
    log = srv.log()
    assert "restream" in log and YT_KEY not in log and TW_KEY not in log


async def _eq(got: Any, expected: list[str]) -> bool:
    return bool(await got == expected)
