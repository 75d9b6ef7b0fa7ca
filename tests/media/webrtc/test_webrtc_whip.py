"""WHIP ingest with a real aiortc publisher: H.264 passes into the hub untouched, Opus is
bridged to AAC, and every error answer of RFC 9725 that we give."""

from __future__ import annotations

import asyncio
import fractions
import json
from pathlib import Path
from typing import Any

import av

from media.h264 import split_avcc
from media.units import Codec, StreamHeader, TrackKind, Unit
from tests.media.webrtc.support import KEY, Publisher, post_offer, wait_for

GARBAGE = "this is not sdp"
NO_CODECS = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 AV1/90000\r\n"


async def test_publish_passes_h264_through_and_bridges_opus_to_aac(webrtc_server: Any, h264_source: Path) -> None:
    hub, base, http = webrtc_server
    publisher, _ = await Publisher.offer(h264_source)
    try:
        status, answer, headers = await publisher.publish(http, base, "room1")
        assert status == 201, answer
        assert headers["Content-Type"] == "application/sdp"
        assert headers["Location"].startswith("/whip/room1/")
        assert "a=rtpmap" in answer and "H264" in answer
        await wait_for(lambda: hub.get("room1") is not None)
        reader = hub.add_reader("room1", "test")
        units: list[Unit] = []
        headers_seen: list[StreamHeader] = []

        def enough() -> bool:
            while (item := reader.read_nowait()) is not None:
                (units.append if isinstance(item, Unit) else headers_seen.append)(item)  # type: ignore[arg-type]
            video = [u for u in units if u.kind is TrackKind.VIDEO]
            audio = [u for u in units if u.kind is TrackKind.AUDIO]
            return len(video) >= 40 and len(audio) >= 40

        await wait_for(enough, timeout=30)
        tracks = {t.kind: t for t in headers_seen[-1].tracks}
        assert tracks[TrackKind.VIDEO].codec is Codec.H264
        assert (tracks[TrackKind.VIDEO].width, tracks[TrackKind.VIDEO].height) == (320, 240)
        assert tracks[TrackKind.AUDIO].codec is Codec.AAC
        assert tracks[TrackKind.AUDIO].sample_rate == 48000
        video = [u for u in units if u.kind is TrackKind.VIDEO]
        assert any(u.keyframe for u in video)
        assert all(b.dts > a.dts for a, b in zip(video, video[1:], strict=False))
        _decode_h264(tracks[TrackKind.VIDEO].config, video)
        _decode_aac(tracks[TrackKind.AUDIO].config, [u for u in units if u.kind is TrackKind.AUDIO])
        reader.close()
        state = hub.get("room1").state_dict()
        assert state["video_codec"] == "h264" and state["audio_codec"] == "aac"
        async with http.delete(base + publisher.location) as answer:
            assert answer.status == 204
        assert hub.get("room1") is None  # DELETE ends the broadcast
    finally:
        await publisher.close()


def _decode_h264(config: bytes, units: list[Unit]) -> None:
    codec = av.CodecContext.create("h264", "r")
    codec.extradata = config
    frames = 0
    start = next(i for i, u in enumerate(units) if u.keyframe)
    for unit in units[start:]:
        assert split_avcc(unit.payload)  # AVCC framing with 4-byte lengths
        packet = av.Packet(unit.payload)
        packet.pts = unit.pts
        packet.time_base = fractions.Fraction(1, 90000)
        frames += len(codec.decode(packet))
    assert frames >= len(units[start:]) - 2
    assert codec.width == 320 and codec.height == 240


def _decode_aac(config: bytes, units: list[Unit]) -> None:
    codec = av.CodecContext.create("aac", "r")
    codec.extradata = config
    samples = sum(frame.samples for unit in units for frame in codec.decode(av.Packet(unit.payload)))
    assert samples >= 1024 * (len(units) - 2)


async def test_second_publisher_gets_409(webrtc_server: Any, h264_source: Path) -> None:
    hub, base, http = webrtc_server
    first, _ = await Publisher.offer(h264_source)
    second, offer = await Publisher.offer(h264_source)
    try:
        assert (await first.publish(http, base, "room2"))[0] == 201
        await wait_for(lambda: (s := hub.get("room2")) is not None and len(s.tracks) == 2)
        status, body, _ = await post_offer(http, f"{base}/whip/room2", offer, KEY)
        assert status == 409 and "already" in body
    finally:
        await first.close()
        await second.close()


async def test_error_answers(webrtc_server: Any, h264_source: Path) -> None:
    _, base, http = webrtc_server
    publisher, offer = await Publisher.offer(h264_source)
    url = f"{base}/whip/room3"
    try:
        assert (await post_offer(http, url, offer))[0] == 401
        assert (await post_offer(http, url, offer, "wrong-key"))[0] == 403
        assert (await post_offer(http, f"{base}/whip/nosuchroom", offer, KEY))[0] == 404
        async with http.post(url, data=offer, headers={"Authorization": f"Bearer {KEY}",
                                                        "Content-Type": "text/plain"}) as answer:
            assert answer.status == 415
        status, body, _ = await post_offer(http, url, GARBAGE, KEY)
        assert status == 400 and "SDP" in body
        status, body, _ = await post_offer(http, url, NO_CODECS, KEY)
        assert status == 400 and "codec" in body
        async with http.delete(f"{url}/nosuchsession") as answer:
            assert answer.status == 404
        async with http.options(url, headers={"Origin": "http://example.test",
                                              "Access-Control-Request-Method": "POST"}) as answer:
            assert answer.status == 204
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
            assert "Authorization" in answer.headers["Access-Control-Allow-Headers"]
            assert "Location" in answer.headers["Access-Control-Expose-Headers"]
    finally:
        await publisher.close()


async def test_whip_publish_is_read_by_ffprobe_from_hls(webrtc_server: Any, h264_source: Path) -> None:
    hub, base, http = webrtc_server
    publisher, _ = await Publisher.offer(h264_source)
    try:
        assert (await publisher.publish(http, base, "room3"))[0] == 201
        playlist = f"{base}/live/room3/index.m3u8"

        async def segments() -> int:
            async with http.get(playlist) as answer:
                return (await answer.text()).count("#EXTINF") if answer.status == 200 else 0

        for _ in range(200):
            if await segments() >= 2:
                break
            await asyncio.sleep(0.1)
        proc = await asyncio.create_subprocess_exec(
            "ffprobe", "-hide_banner", "-loglevel", "error", "-show_entries",
            "stream=codec_name,width,height,sample_rate", "-of", "json", playlist,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        streams = {s["codec_name"]: s for s in json.loads(out)["streams"]}
        assert set(streams) == {"h264", "aac"}, err
        assert (streams["h264"]["width"], streams["h264"]["height"]) == (320, 240)
        assert streams["aac"]["sample_rate"] == "48000"
    finally:
        await publisher.close()


async def test_vp8_publisher_is_transcoded_to_h264_once(webrtc_server: Any, h264_source: Path) -> None:
    hub, base, http = webrtc_server
    from aiortc import RTCRtpSender
    from aiortc.contrib.media import MediaPlayer
    from aiortc.rtcsessiondescription import RTCSessionDescription

    from media.webrtc.ice import apply_ice_policy
    from tests.media.webrtc.support import LOOPBACK, client_pc

    pc = client_pc()
    player = MediaPlayer(str(h264_source))  # decoded here, encoded to VP8 by aiortc
    transceiver = pc.addTransceiver(player.video, direction="sendonly")
    transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                     if c.mimeType in ("video/VP8", "video/rtx")])
    pc.addTrack(player.audio)
    apply_ice_policy(pc, LOOPBACK)
    await pc.setLocalDescription(await pc.createOffer())
    try:
        status, answer, _ = await post_offer(http, f"{base}/whip/room1", pc.localDescription.sdp, KEY)
        assert status == 201, answer
        assert "VP8" in answer and "H264" not in answer
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await wait_for(lambda: (s := hub.get("room1")) is not None and len(s.tracks) == 2, timeout=30)
        reader = hub.add_reader("room1", "test")
        units: list[Unit] = []

        def collected() -> bool:
            while (item := reader.read_nowait()) is not None:
                if isinstance(item, Unit) and item.kind is TrackKind.VIDEO:
                    units.append(item)
            return len(units) >= 20

        await wait_for(collected, timeout=30)
        video = next(t for t in hub.get("room1").tracks if t.kind is TrackKind.VIDEO)
        assert video.codec is Codec.H264 and (video.width, video.height) == (320, 240)
        _decode_h264(video.config, units)
        reader.close()
    finally:
        for sender in pc.getSenders():
            if sender.track is not None:
                sender.track.stop()
        await pc.close()
