"""Still frames of live streams: a real H.264 keyframe (libx264 through PyAV, a solid colour)
goes through a real hub; the JPEG that comes out shows that colour at the asked width, is made
once per interval however many ask at once, and is gone with the stream."""

from __future__ import annotations

import asyncio
import fractions
import re

import av
import pytest
from prometheus_client import REGISTRY

from media.h264 import AvcDecoderConfig
from media.hub import Hub
from media.thumbnail import Thumbnails, annexb_keyframe, decode_jpeg
from media.units import Track, TrackKind, Unit

RED = (220, 30, 30)


def _made() -> float:
    return REGISTRY.get_sample_value("nal_hub_thumbnails_total", {"result": "made"}) or 0.0


def keyframe(rgb: tuple[int, int, int] = RED, size: tuple[int, int] = (640, 360)) -> tuple[Track, Unit]:
    """One IDR frame of a solid colour from libx264, as the hub holds it (avcC + AVCC)."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = size[0], size[1], "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    frame = av.VideoFrame(size[0], size[1], "rgb24")
    frame.planes[0].update(bytes(rgb) * (size[0] * size[1]))
    frame = frame.reformat(format="yuv420p")
    frame.pts = 0
    annexb = b"".join(bytes(p) for p in [*encoder.encode(frame), *encoder.encode(None)])
    nals = [n for n in re.split(b"\x00\x00\x00\x01|\x00\x00\x01", annexb) if n]
    sps = next(n for n in nals if n[0] & 0x1F == 7)
    pps = next(n for n in nals if n[0] & 0x1F == 8)
    rest = [n for n in nals if n[0] & 0x1F not in (7, 8)]
    track = Track.h264(1, AvcDecoderConfig.from_parameter_sets(sps, pps).serialize())
    payload = b"".join(len(n).to_bytes(4, "big") + n for n in rest)
    return track, Unit(1, TrackKind.VIDEO, 0, 0, True, payload)


def mean_rgb(jpeg: bytes) -> tuple[tuple[int, int], tuple[float, float, float]]:
    decoder = av.CodecContext.create("mjpeg", "r")
    frame = [*decoder.decode(av.Packet(jpeg)), *decoder.decode(None)][0]
    rgb = frame.reformat(format="rgb24")
    plane, row = bytes(rgb.planes[0]), rgb.planes[0].line_size
    pixels = b"".join(plane[y * row : y * row + rgb.width * 3] for y in range(rgb.height))
    count = len(pixels) // 3
    r, g, b = (sum(pixels[i::3]) / count for i in range(3))
    return (frame.width, frame.height), (r, g, b)


def test_a_keyframe_becomes_a_jpeg_of_its_picture() -> None:
    track, unit = keyframe()
    annexb = annexb_keyframe(track, unit)
    assert annexb.startswith(b"\x00\x00\x00\x01\x67")  # the SPS first
    jpeg = decode_jpeg(annexb, 320)
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    (width, height), (r, g, b) = mean_rgb(jpeg)
    assert (width, height) == (320, 180)
    assert abs(r - RED[0]) < 20 and abs(g - RED[1]) < 20 and abs(b - RED[2]) < 20
    assert mean_rgb(decode_jpeg(annexb, 4000))[0] == (640, 360)  # never wider than the picture


def test_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_jpeg(b"\x00\x00\x00\x01\x65" + bytes(64), 320)


async def test_one_still_per_interval_however_many_ask() -> None:
    hub = Hub(reconnect_grace=0.0)
    thumbs = Thumbnails(hub, interval_s=3600, width=320)
    try:
        assert await thumbs.jpeg("room") is None  # not live
        track, unit = keyframe()
        stream = hub.start_publish("room", "test", [track])
        assert await thumbs.jpeg("room") is None  # no keyframe yet
        stream.write(unit)
        before = _made()
        stills = await asyncio.gather(*(thumbs.jpeg("room") for _ in range(20)))
        assert len(set(stills)) == 1 and stills[0] is not None
        assert _made() == before + 1  # twenty asked at once: one decode
        assert await thumbs.jpeg("room") == stills[0] and _made() == before + 1  # kept

        blue = keyframe((30, 30, 220))[1]  # a new keyframe: served once the still is old
        stream.write(blue)
        thumbs.interval_s = 0.0
        newer = await thumbs.jpeg("room")
        assert newer is not None and _made() == before + 2
        assert mean_rgb(newer)[1][2] > 150

        hub.stop("room")
        assert await thumbs.jpeg("room") is None  # offline: the page shows its placeholder
    finally:
        thumbs.close()
        hub.close()
