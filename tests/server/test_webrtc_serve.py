"""WebRTC through the real `notalabel serve`: WHIP in, HLS and WHEP out; RTMP in, WHEP out."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.media.webrtc.rtmp_ingest import ffmpeg_publish, stop
from tests.media.webrtc.support import Publisher, Viewer, make_source, wait_for
from tests.server.test_live import make_owner_room

LOOPBACK = {"webrtc_host_addresses": "127.0.0.1"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def live_state(http: aiohttp.ClientSession, base: str, slug: str) -> dict[str, Any]:
    async with http.get(f"{base}/api/rooms/{slug}/stream") as r:
        state: dict[str, Any] = await r.json()
        return state


async def test_whip_publish_reaches_hls_and_whep(server_process: Any, tmp_path: Path,
                                                 http: aiohttp.ClientSession) -> None:
    srv = server_process(**LOOPBACK)
    slug, key, _token = await make_owner_room(http, srv.url)
    source = make_source(tmp_path / "src.mp4", seconds=20)
    publisher, _ = await Publisher.offer(source)
    wrong, _ = await Publisher.offer(source)
    viewer = None
    try:
        status, _body, _h = await wrong.publish(http, srv.url, slug, key="live_wrong")
        assert status == 403
        status, body, headers = await publisher.publish(http, srv.url, slug, key=key)
        assert status == 201, body
        assert headers["Location"].startswith(f"/whip/{slug}/")
        for _ in range(200):
            state = await live_state(http, srv.url, slug)
            if state.get("video_codec") and state.get("audio_codec"):
                break
            await asyncio.sleep(0.1)
        assert state["state"] == "live"
        probe = await asyncio.to_thread(subprocess.run, [
            "ffprobe", "-v", "error", "-show_streams", "-of", "json", "-rw_timeout", "15000000",
            f"{srv.url}/live/{slug}/index.m3u8"], capture_output=True, text=True, timeout=60)
        streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
        assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
        viewer, status, body = await Viewer.watch(http, srv.url, slug)
        assert status == 201, body
        await wait_for(lambda: viewer.video_frames >= 20 and viewer.audio_frames >= 30, timeout=30)
        async with http.delete(srv.url + publisher.location) as answer:
            assert answer.status == 204
        async with http.delete(srv.url + publisher.location) as answer:
            assert answer.status == 404  # the session is gone
    finally:
        if viewer is not None:
            await viewer.close()
        await publisher.close()
        await wrong.close()


async def test_rtmp_publish_plays_over_whep(server_process: Any, http: aiohttp.ClientSession) -> None:
    srv = server_process(**LOOPBACK)
    slug, key, _token = await make_owner_room(http, srv.url)
    proc = ffmpeg_publish(f"{srv.rtmp_url}/{key}", 20)
    viewer = None
    try:
        for _ in range(200):
            if (await live_state(http, srv.url, slug)).get("audio_codec"):
                break
            await asyncio.sleep(0.1)
        viewer, status, body = await Viewer.watch(http, srv.url, slug)
        assert status == 201, body
        await wait_for(lambda: viewer.video_frames >= 30 and viewer.audio_frames >= 50, timeout=30)
        assert viewer.sizes == {(640, 360)} and viewer.audio_rates == {48000}
    finally:
        if viewer is not None:
            await viewer.close()
        stop(proc)
