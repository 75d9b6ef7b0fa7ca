"""WHEP playback with a real aiortc viewer that decodes what it gets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.media.webrtc.conftest import Site
from tests.media.webrtc.rtmp_ingest import ffmpeg_publish, stop
from tests.media.webrtc.support import Publisher, Viewer, post_offer, wait_for


async def test_rtmp_source_plays_over_whep_with_opus_bridged_from_aac(webrtc_site: Site, rtmp_server: str) -> None:
    hub, base, http = webrtc_site.hub, webrtc_site.base, webrtc_site.http
    proc = ffmpeg_publish(f"{rtmp_server}/room1", 20)
    viewers: list[Viewer] = []
    try:
        await wait_for(lambda: (s := hub.get("room1")) is not None and len(s.tracks) == 2, timeout=20)
        for _ in range(2):
            viewer, status, body = await Viewer.watch(http, base, "room1")
            viewers.append(viewer)
            assert status == 201, body
            assert viewer.location.startswith("/whep/room1/")
        await wait_for(lambda: all(v.video_frames >= 30 and v.audio_frames >= 50 for v in viewers), timeout=30)
        for viewer in viewers:
            assert viewer.sizes == {(640, 360)}
            assert viewer.audio_rates == {48000}  # Opus, bridged once from AAC
        kinds = [reader.kind for reader in hub.get("room1").readers]
        assert kinds.count("whep") == 2 and kinds.count("opus-bridge") == 1  # one bridge for all
        payloads = webrtc_site.webrtc.payloads("room1")  # video packetized once for both viewers
        assert payloads.shared >= 30 and payloads.made <= payloads.shared + 60
        async with http.delete(base + viewers[0].location) as answer:
            assert answer.status == 204
        async with http.delete(base + viewers[0].location) as answer:
            assert answer.status == 404
    finally:
        for viewer in viewers:
            await viewer.close()
        stop(proc)


async def test_whip_source_plays_over_whep_with_opus_passed_through(webrtc_server: Any, h264_source: Path) -> None:
    hub, base, http = webrtc_server
    publisher, _ = await Publisher.offer(h264_source)
    viewer = None
    try:
        assert (await publisher.publish(http, base, "room2"))[0] == 201
        await wait_for(lambda: (s := hub.get("room2")) is not None and len(s.tracks) == 2, timeout=20)
        viewer, status, body = await Viewer.watch(http, base, "room2")
        assert status == 201, body
        await wait_for(lambda: viewer.video_frames >= 20 and viewer.audio_frames >= 30, timeout=30)
        assert viewer.sizes == {(320, 240)}
    finally:
        if viewer is not None:
            await viewer.close()
        await publisher.close()


async def test_whep_errors(webrtc_server: Any) -> None:
    _, base, http = webrtc_server
    viewer, status, body = await Viewer.watch(http, base, "room3")
    await viewer.close()
    assert status == 404 and "not live" in body
    viewer, status, _ = await Viewer.watch(http, base, "nosuchroom")
    await viewer.close()
    assert status == 404
    status, body, _ = await post_offer(http, f"{base}/whep/room3", "garbage")
    assert status == 400
    async with http.post(f"{base}/whep/room3", data="v=0", headers={"Content-Type": "text/plain"}) as answer:
        assert answer.status == 415
    await asyncio.sleep(0)
