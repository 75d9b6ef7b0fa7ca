"""HTTP answers: content types, cache headers, errors, blocking reloads and preload hints."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import aiohttp

from media.units import CLOCK_RATE
from tests.media.hls.conftest import HlsServer
from tests.media.hls.sources import Source
from tests.support.wait import eventually


def realtime_after(units: tuple, seconds: float) -> tuple[list, list]:  # type: ignore[type-arg]
    cut = seconds * CLOCK_RATE
    return [u for u in units if u.dts < cut], [u for u in units if u.dts >= cut]


async def test_unknown_and_offline_rooms(hls_server: HlsServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(hls_server.url("nope")) as response:
            assert response.status == 404
            assert await response.json() == {"error": "unknown room"}
        async with http.get(hls_server.url("other")) as response:
            assert response.status == 404
            assert await response.json() == {"error": "offline"}
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["Retry-After"] == "5"


async def test_content_types_and_cache_headers(hls_server: HlsServer, av_720p30: Source) -> None:
    stream = hls_server.hub.start_publish("room", "test", av_720p30.tracks)
    for unit in av_720p30.units:
        stream.write(unit)
    await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http:
        async with http.get(hls_server.url("room")) as response:
            assert response.status == 200
            assert response.content_type == "application/vnd.apple.mpegurl"
            assert response.headers["Cache-Control"] == "public, max-age=1"
            text = await response.text()
        names = re.findall(r'URI="([^"]+)"', text) + re.findall(r"^(\S+\.m4s)$", text, re.M)
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
        assert hint is not None
        for name in names:
            if name == hint.group(1):
                continue
            async with http.get(hls_server.url("room", name)) as response:
                assert response.status == 200, name
                assert response.content_type == "video/mp4"
                assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        async with http.get(hls_server.url("room", "init.mp4")) as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "no-cache"
            assert (await response.read())[4:8] == b"ftyp"
        prefix = names[0].split("-")[0]
        for bad in ("seg-1.m4s", "zz-seg-1.m4s", "x.ts", f"{prefix}-seg-999.m4s"):
            async with http.get(hls_server.url("room", bad)) as response:
                assert response.status == 404, bad


async def test_blocking_reload_and_preload_hint(
    hls_server: HlsServer, make_source: Callable[..., Source]
) -> None:
    """Feed 2 s at once, then the rest at real pace; requests ahead of the edge wait (the
    first playlist too, until three segments are complete)."""
    source = make_source("720p30-12s", seconds=12)
    first, rest = realtime_after(source.units, 2.0)
    stream = hls_server.hub.start_publish("room", "test", source.tracks)
    for unit in first:
        stream.write(unit)

    async def pace() -> None:
        start = asyncio.get_running_loop().time()
        for unit in rest:
            delay = (unit.dts / CLOCK_RATE - 2.0) - (asyncio.get_running_loop().time() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            stream.write(unit)

    feeder = asyncio.create_task(pace())
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(hls_server.url("room")) as response:
                text = await response.text()
            last_msn = max(int(n) for n in re.findall(r"seg-(\d+)\.m4s", text))
            assert last_msn >= 2
            hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
            assert hint is not None
            async with http.get(hls_server.url("room", hint.group(1))) as response:
                assert response.status == 200  # waited until the hinted part was written
                assert (await response.read())[4:8] == b"moof"
            query = {"_HLS_msn": str(last_msn + 1)}
            async with http.get(hls_server.url("room"), params=query) as response:
                assert response.status == 200
                assert response.headers["Cache-Control"].startswith("public, max-age=")
                assert f"seg-{last_msn + 1}.m4s" in await response.text()
            query = {"_HLS_msn": str(last_msn + 2), "_HLS_part": "1"}
            async with http.get(hls_server.url("room"), params=query) as response:
                assert response.status == 200
                assert f"part-{last_msn + 2}-1.m4s" in await response.text()
            for bad in ({"_HLS_msn": str(last_msn + 9)}, {"_HLS_part": "1"}, {"_HLS_msn": "x"}):
                async with http.get(hls_server.url("room"), params=bad) as response:
                    assert response.status == 400, bad
    finally:
        feeder.cancel()


async def test_playlist_survives_reconnecting_and_goes_offline(
    hls_server: HlsServer, av_720p30: Source
) -> None:
    # A grace long enough that a loaded machine still asks inside it (0.2 s was not: a
    # stall of the process between end_publish and the request let it expire first).
    hls_server.hub.reconnect_grace = 3.0
    stream = hls_server.hub.start_publish("room", "test", av_720p30.tracks)
    for unit in av_720p30.units:
        stream.write(unit)
    hls_server.hub.end_publish("room", "test")
    room = hls_server.hub.get("room")
    assert room is not None and room.state == "reconnecting"
    async with aiohttp.ClientSession() as http:
        async with http.get(hls_server.url("room")) as response:
            assert response.status == 200  # reconnecting: viewers keep the playlist
        assert room.state == "reconnecting"  # so the answer above was given while reconnecting
        await eventually(lambda: room.state == "offline", what="the grace expired")
        async with http.get(hls_server.url("room")) as response:
            assert response.status == 404 and await response.json() == {"error": "offline"}
