"""End to end: ffmpeg publishes over RTMP like OBS -> hub -> LL-HLS -> ffprobe reads it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from media.hls.http import setup_routes
from media.hub import Hub
from media.rtmp.server import RtmpServer
from media.rtmp.to_hub import HubIngest
from tests.media.hls.test_hls_ffprobe import assert_monotonic, ffprobe

KEY = "sk_room_secret"


@dataclass
class Stack:
    hub: Hub
    rtmp: RtmpServer
    http_base: str


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    hub = Hub(reconnect_grace=10)

    async def resolve(key: str) -> str | None:
        return "room" if key == KEY else None

    async def room_exists(slug: str) -> bool:
        return slug == "room"

    rtmp = RtmpServer(HubIngest(hub, resolve))
    await rtmp.start("127.0.0.1", 0)
    app = web.Application()
    setup_routes(app, hub, room_exists)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Stack(hub, rtmp, f"http://127.0.0.1:{runner.addresses[0][1]}")
    finally:
        await rtmp.close()
        hub.close()
        await runner.cleanup()


async def publish(port: int, key: str, seconds: float) -> int:
    args = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "2",
            "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", str(seconds),
            "-f", "flv", f"rtmp://127.0.0.1:{port}/live/{key}"]  # fmt: skip
    process = await asyncio.create_subprocess_exec(*args)
    try:
        return await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_rtmp_to_ll_hls(stack: Stack) -> None:
    assert await publish(stack.rtmp.port, KEY, 4) == 0
    stream = stack.hub.get("room")
    assert stream is not None and stream.state == "reconnecting"  # ffmpeg ended: grace
    state = stream.state_dict()
    assert (state["resolution"], state["video_codec"], state["audio_codec"]) == (
        "1280x720", "h264", "aac",
    )  # fmt: skip
    assert state["fps"] == pytest.approx(30, abs=1) and state["keyframe_interval"] == 1.0
    result = await ffprobe(f"{stack.http_base}/live/room/index.m3u8", seconds=2)
    streams = {s["codec_type"]: s for s in result["streams"]}
    assert (streams["video"]["width"], streams["video"]["height"]) == (1280, 720)
    assert streams["audio"]["codec_name"] == "aac"
    assert assert_monotonic(result["packets"], streams["video"]["index"]) >= 50
    # The same key reconnecting continues the same stream with a new session.
    assert await publish(stack.rtmp.port, KEY, 2) == 0
    assert stack.hub.get("room") is stream and stream.session == 2


async def test_wrong_key_is_refused(stack: Stack) -> None:
    assert await publish(stack.rtmp.port, "wrong", 1) != 0
    assert stack.hub.get("room") is None
