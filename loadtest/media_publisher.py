"""A timecode publisher: draw the wall clock into each picture, encode H.264 with PyAV
(libx264 ultrafast, zerolatency: no B-frames, no lookahead) and publish over RTMP with our
own :class:`media.rtmp.client.RtmpPublisher`.

The stamp is taken just before the picture is drawn and encoded, so what a viewer measures
includes encoding, RTMP, the server's segmenting, HTTP and decoding: glass to glass minus
the camera and the screen.

    python -m loadtest.media_publisher --url rtmp://127.0.0.1:1935/live/KEY --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import time
from fractions import Fraction

import av

from loadtest.media_timecode import now_ms, picture
from media.h264 import NAL_IDR, NAL_PPS, NAL_SPS, AvcDecoderConfig
from media.rtmp.client import RtmpPublisher
from media.rtmp.units import MediaUnit, VideoConfig
from media.webrtc.annexb import NAL_AUD, split_annexb


class TimecodeEncoder:
    """Pictures with stamps in, RTMP video units (AVCC) and the codec config out."""

    def __init__(self, width: int, height: int, fps: int, bitrate: int, gop_seconds: float) -> None:
        self.width, self.height, self.fps = width, height, fps
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = Fraction(1, 1000)
        codec.framerate = Fraction(fps, 1)
        codec.bit_rate = bitrate
        codec.gop_size = max(1, round(fps * gop_seconds))
        codec.options = {"preset": "ultrafast", "tune": "zerolatency", "bframes": "0",
                         "keyint_min": str(codec.gop_size), "scenecut": "0"}
        codec.open()
        self.codec = codec
        self.config: VideoConfig | None = None
        self.frames = 0

    def encode(self, stamp_ms: int) -> list[MediaUnit | VideoConfig]:
        """Encode one picture stamped ``stamp_ms``; a new config comes before its keyframe."""
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        planes = picture(self.width, self.height, stamp_ms, self.frames)
        for index, (plane, data) in enumerate(zip(frame.planes, planes, strict=True)):
            _fill(plane, data, self.width if index == 0 else self.width // 2)
        frame.pts = self.frames * 1000 // self.fps
        frame.time_base = Fraction(1, 1000)
        self.frames += 1
        out: list[MediaUnit | VideoConfig] = []
        for packet in self.codec.encode(frame):
            out.extend(self._units(packet))
        return out

    def _units(self, packet: av.Packet) -> list[MediaUnit | VideoConfig]:
        nals = split_annexb(bytes(packet))
        sps = [n for n in nals if n[0] & 0x1F == NAL_SPS]
        pps = [n for n in nals if n[0] & 0x1F == NAL_PPS]
        out: list[MediaUnit | VideoConfig] = []
        if sps and pps:
            record = AvcDecoderConfig.from_parameter_sets(sps[0], pps[0]).serialize()
            config = VideoConfig("h264", record, 4, (sps[0],), (pps[0],))
            if self.config is None or self.config.record != record:
                self.config = config
                out.append(config)
        media = [n for n in nals if n[0] & 0x1F not in (NAL_SPS, NAL_PPS, NAL_AUD)]
        payload = b"".join(len(n).to_bytes(4, "big") + n for n in media)
        keyframe = any(n[0] & 0x1F == NAL_IDR for n in media)
        pts = int(packet.pts or 0)
        dts = int(packet.dts if packet.dts is not None else pts)
        out.append(MediaUnit("video", "h264", dts, pts, keyframe, payload))
        return out


def _fill(plane: av.video.plane.VideoPlane, data: bytes, width: int) -> None:
    """Copy tightly packed rows into a plane whose rows may be padded."""
    if plane.line_size == width:
        plane.update(data)
        return
    padded = bytearray(plane.line_size * (len(data) // width))
    for row in range(len(data) // width):
        padded[row * plane.line_size : row * plane.line_size + width] = data[row * width : (row + 1) * width]
    plane.update(bytes(padded))


async def publish(url: str, duration: float, width: int, height: int, fps: int, bitrate: int,
                  gop_seconds: float) -> int:
    """Publish for ``duration`` seconds at ``fps`` in real time; returns the frames sent."""
    encoder = TimecodeEncoder(width, height, fps, bitrate, gop_seconds)
    publisher = RtmpPublisher(url)
    await publisher.connect()
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        for n in range(round(duration * fps)):
            delay = start + n / fps - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            for item in encoder.encode(now_ms()):
                if isinstance(item, VideoConfig):
                    publisher.send_video_config(item)
                else:
                    publisher.send_video(item)
    finally:
        await publisher.close()
    return encoder.frames


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="rtmp://HOST:PORT/live/STREAM_KEY")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=2_500_000)
    parser.add_argument("--gop", type=float, default=1.0, help="keyframe interval, seconds")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    began = time.monotonic()
    frames = asyncio.run(publish(args.url, args.duration, width, height, args.fps, args.bitrate, args.gop))
    print(f"published {frames} frames in {time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    main()
