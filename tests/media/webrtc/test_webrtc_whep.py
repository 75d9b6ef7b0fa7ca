"""WHEP playback with a real aiortc viewer that decodes what it gets."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

from media.errors import StreamEnded
from media.reader import Reader
from media.units import TrackKind, Unit
from media.webrtc.annexb import split_annexb
from media.webrtc.egress import VideoPacketTrack
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
        # ... which decodes and encodes in its transcode threads, off the event loop
        assert any(t.name.startswith("opus-bridge") for t in threading.enumerate())
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
        assert "opus-bridge" not in [r.kind for r in hub.get("room2").readers]  # the publisher's Opus
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


async def _count_video(reader: Reader, seen: list[int]) -> None:
    """Count the video units written from now on (what the reader got from the GOP cache is older)."""
    cached = reader.pending
    with contextlib.suppress(StreamEnded):
        while True:
            item = await reader.read()
            if not isinstance(item, Unit):
                continue
            if cached > 0:
                cached -= 1
            elif item.kind is TrackKind.VIDEO:
                seen[0] += 1


def _nal_types(payloads: list[bytes]) -> list[int]:
    from aiortc.codecs.h264 import H264PayloadDescriptor

    return [nal[0] & 0x1F for nal in split_annexb(b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads))]


async def test_a_paused_viewer_drops_to_the_next_keyframe_and_never_slows_the_others(
    webrtc_site: Site, rtmp_server: str
) -> None:
    """One viewer's sender stops pulling (as if its process were stuck) with a tiny reader
    buffer: its reader overflows and skips to the next keyframe, and when it pulls again the
    first frame it sends is that keyframe with SPS/PPS. Meanwhile the publisher's stream and
    the other viewers get every unit."""
    hub, base, http = webrtc_site.hub, webrtc_site.base, webrtc_site.http
    proc = ffmpeg_publish(f"{rtmp_server}/room1", 20)  # 1 s GOP
    viewers: list[Viewer] = []
    probe: asyncio.Task[None] | None = None
    try:
        await wait_for(lambda: (s := hub.get("room1")) is not None and len(s.tracks) == 2, timeout=20)
        for _ in range(3):
            viewer, status, body = await Viewer.watch(http, base, "room1", audio=False)
            viewers.append(viewer)
            assert status == 201, body
        await wait_for(lambda: all(v.video_frames >= 10 for v in viewers), timeout=30)
        tracks = [webrtc_site.webrtc.session("whep", "room1", v.location.rsplit("/", 1)[1]).tracks[0]
                  for v in viewers]
        assert all(isinstance(t, VideoPacketTrack) for t in tracks)
        slow, fast = tracks[0], tracks[1:]
        sender = next(s for s in webrtc_site.webrtc.session("whep", "room1", viewers[0].location.rsplit("/", 1)[1])
                      .pc.getSenders() if s.track is slow)

        gate = asyncio.Event()
        resumed: list[list[bytes]] = []
        source = sender._next_encoded_frame

        async def paused(codec: Any) -> Any:
            await gate.wait()
            frame = await source(codec)
            resumed.append(frame.payloads)
            return frame

        sender._next_encoded_frame = paused  # type: ignore[method-assign]
        slow.reader.max_units = 8  # about 0.1 s of this stream's audio and video units
        written = [0]
        probe = asyncio.ensure_future(_count_video(hub.get("room1").add_reader("probe"), written))
        await asyncio.sleep(0)
        fast_before = [t.sent for t in fast]
        frames_before = [v.video_frames for v in viewers]
        await wait_for(lambda: written[0] >= 75, timeout=30)  # 2.5 s of video while one viewer is stuck
        during = written[0]
        # The others sent every unit written meanwhile (their senders may be a unit or two behind
        # the probe at this instant) and dropped none; their decoders kept going.
        await wait_for(lambda: all(t.sent - b >= during for t, b in zip(fast, fast_before, strict=True)), 10)
        assert all(t.reader.drops == 0 for t in fast)
        assert all(v.video_frames - b >= 40 for v, b in zip(viewers[1:], frames_before[1:], strict=True))
        assert slow.reader.drops > 0

        gate.set()
        await wait_for(lambda: len(resumed) >= 1, timeout=10)
        types = _nal_types(resumed[0])
        assert 7 in types and 8 in types and 5 in types, types  # SPS, PPS, IDR: a fresh start
        decoded = viewers[0].video_frames
        await wait_for(lambda: viewers[0].video_frames >= decoded + 20, timeout=20)  # and it plays on
    finally:
        if probe is not None:
            probe.cancel()
        for viewer in viewers:
            await viewer.close()
        stop(proc)
