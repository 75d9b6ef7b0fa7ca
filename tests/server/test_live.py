"""Going live for real: ffmpeg publishes to `notalabel serve` over RTMP like OBS; ffprobe watches the HLS."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.roomsocket import RoomSocket

PASSWORD = "correct horse"


def ffmpeg_publish(url: str, seconds: int = 20) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "high", "-g", "30",
         "-c:a", "aac", "-t", str(seconds), "-f", "flv", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def make_owner_room(http: aiohttp.ClientSession, base: str) -> tuple[str, str, str]:
    await http.post(f"{base}/api/accounts", json={"username": "perf", "password": PASSWORD})
    r = await http.post(f"{base}/api/sessions", json={"username": "perf", "password": PASSWORD})
    token = (await r.json())["token"]
    http.cookie_jar.clear()
    r = await http.post(f"{base}/api/rooms", json={"title": "Live"}, headers={"Authorization": f"Bearer {token}"})
    room = await r.json()
    return room["slug"], room["stream_key"], token


async def test_obs_style_publish_plays_as_hls_and_reports_state(server_process: Any, tmp_path: Any,
                                                                 http: aiohttp.ClientSession) -> None:
    srv = server_process()
    slug, key, token = await make_owner_room(http, srv.url)
    r = await http.get(f"{srv.url}/api/rooms/{slug}/stream")
    assert (await r.json())["state"] == "offline"
    r = await http.get(f"{srv.url}/live/{slug}/index.m3u8")
    assert r.status == 404 and (await r.json())["error"] == "offline"
    r = await http.get(f"{srv.url}/live/no-such-room/index.m3u8")
    assert r.status == 404 and (await r.json())["error"] != "offline"

    fan = await RoomSocket.connect(http, srv.ws_url, slug)
    wrong = ffmpeg_publish(f"{srv.rtmp_url}/wrong-key", seconds=2)
    assert wrong.wait(30) != 0
    publisher = ffmpeg_publish(f"{srv.rtmp_url}/{key}")
    try:
        await fan.wait_for(lambda: any(e["data"].get("state") == "live" for e in fan.of_type("stream.state")), 20)
        for _ in range(100):
            r = await http.get(f"{srv.url}/api/rooms/{slug}/stream")
            state = await r.json()
            if state.get("width"):
                break
            await asyncio.sleep(0.2)
        assert state["state"] == "live" and state["width"] == 640 and state["height"] == 360
        r = await http.get(f"{srv.url}/live/{slug}/index.m3u8")
        assert r.status == 200 and r.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
        assert "#EXT-X-PART:" in await r.text()
        probe = await asyncio.to_thread(subprocess.run, [
            "ffprobe", "-v", "error", "-show_streams", "-of", "json", "-rw_timeout", "15000000",
            f"{srv.url}/live/{slug}/index.m3u8"], capture_output=True, text=True, timeout=60)
        streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
        assert streams["video"]["codec_name"] == "h264" and streams["video"]["width"] == 640
        assert streams["audio"]["codec_name"] == "aac"
        metrics = await (await http.get(f"{srv.url}/metrics")).text()
        assert 'nal_rtmp_rejected_total{reason="bad_key"}' in metrics
    finally:
        publisher.kill()
        publisher.wait()
        await fan.close()
