"""ffprobe (a real HLS client) reads what the hub and the segmenter serve over loopback."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from media.units import Unit
from tests.media.hls.conftest import HlsServer
from tests.media.hls.sources import Source

FFPROBE_TIMEOUT = 60


async def ffprobe(url: str, seconds: float = 2.5) -> dict[str, Any]:
    """Read the live playlist from its first segment for ``seconds`` of media."""
    args = ["ffprobe", "-v", "error", "-live_start_index", "0", "-read_intervals",
            f"%+{seconds}", "-show_streams", "-show_packets", "-of", "json", url]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), FFPROBE_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


def assert_monotonic(packets: list[dict[str, Any]], stream_index: int) -> int:
    dts = [int(p["dts"]) for p in packets if p["stream_index"] == stream_index]
    assert dts, f"no packets on stream {stream_index}"
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False)), dts
    return len(dts)


def publish(server: HlsServer, source: Source, units: tuple[Unit, ...] | None = None) -> None:
    stream = server.hub.start_publish("room", "test", source.tracks)
    for unit in units if units is not None else source.units:
        stream.write(unit)


CASES = [
    ("720p30-bframes", dict(size="1280x720", rate=30, bframes=2), (1280, 720), 2),
    ("720p30-no-bframes", dict(size="1280x720", rate=30, bframes=0), (1280, 720), 0),
    ("1080p60-bframes", dict(size="1920x1080", rate=60, bframes=2, seconds=4), (1920, 1080), 2),
    ("1080p60-no-bframes", dict(size="1920x1080", rate=60, bframes=0, seconds=4), (1920, 1080), 0),
]


@pytest.mark.parametrize(("name", "options", "size", "bframes"), CASES, ids=[c[0] for c in CASES])
async def test_ffprobe_reads_h264_aac(
    hls_server: HlsServer,
    make_source: Callable[..., Source],
    name: str,
    options: dict[str, Any],
    size: tuple[int, int],
    bframes: int,
) -> None:
    source = make_source(name, **options)
    publish(hls_server, source)
    await asyncio.sleep(0.05)
    result = await ffprobe(hls_server.url("room"), seconds=1.5)
    streams = {s["codec_type"]: s for s in result["streams"]}
    video, audio = streams["video"], streams["audio"]
    assert (video["codec_name"], video["profile"]) == ("h264", "High")
    assert (video["width"], video["height"]) == size
    assert (video["has_b_frames"] > 0) == (bframes > 0)
    assert (audio["codec_name"], audio["sample_rate"]) == ("aac", "44100")
    assert assert_monotonic(result["packets"], video["index"]) >= 25
    assert assert_monotonic(result["packets"], audio["index"]) >= 30


async def test_ffprobe_reads_video_only(
    hls_server: HlsServer, make_source: Callable[..., Source]
) -> None:
    source = make_source("video-only", audio=False)
    publish(hls_server, source)
    result = await ffprobe(hls_server.url("room"), seconds=1.5)
    assert [s["codec_name"] for s in result["streams"]] == ["h264"]
    assert assert_monotonic(result["packets"], 0) >= 40


async def test_ffprobe_reads_audio_only(
    hls_server: HlsServer, make_source: Callable[..., Source]
) -> None:
    source = make_source("audio-only", video=False)
    publish(hls_server, source)
    result = await ffprobe(hls_server.url("room"), seconds=1.5)
    assert [(s["codec_name"], s["channels"]) for s in result["streams"]] == [("aac", 1)]
    assert assert_monotonic(result["packets"], 0) >= 60


async def test_reconnect_continues_the_playlist_with_a_discontinuity(
    hls_server: HlsServer, av_720p30: Source
) -> None:
    half = len(av_720p30.units) // 2
    publish(hls_server, av_720p30, av_720p30.units[:half])
    hls_server.hub.end_publish("room", "test")
    assert hls_server.hub.get("room") is not None
    assert hls_server.hub.get("room").state == "reconnecting"  # type: ignore[union-attr]
    publish(hls_server, av_720p30)  # a new session: timestamps start again at 0
    await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http, http.get(hls_server.url("room")) as response:
        text = await response.text()
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:0" in text
    maps = re.findall(r'#EXT-X-MAP:URI="[0-9a-z]+-(init-\d+\.mp4)"', text)
    assert maps == ["init-0.mp4", "init-1.mp4"]
    msns = [int(n) for n in re.findall(r"seg-(\d+)\.m4s", text)]
    assert msns == list(range(len(msns))) and len(msns) >= 4
    result = await ffprobe(hls_server.url("room"), seconds=4)
    video = next(s for s in result["streams"] if s["codec_type"] == "video")
    frames = assert_monotonic(result["packets"], video["index"])
    assert frames > 100  # both sessions, one timeline
