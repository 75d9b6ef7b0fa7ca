"""VP8 to H.264, once per stream, for browsers that offer no H.264.

:class:`H264Transcoder` takes decoded ``av.VideoFrame``s (aiortc decodes VP8 for us) and
encodes them with libx264 (``zerolatency``, constrained baseline so every WebRTC viewer can
decode it, a keyframe every ``gop`` frames or on request). It returns Annex B access units; the
caller turns them into hub units as it does for passthrough H.264. ``encode`` blocks for a few
milliseconds per frame: run it in an executor (PyAV releases the GIL while x264 works).
"""

from __future__ import annotations

import fractions

import av

from media.transcode.errors import BridgeInputError, BridgeSetupError

CLOCK_RATE = 90_000


class H264Transcoder:
    def __init__(self, *, bit_rate: int = 2_500_000, gop: int = 60, fps: int = 30) -> None:
        self.bit_rate = bit_rate
        self.gop = gop
        self.fps = fps
        self._codec: av.VideoCodecContext | None = None
        self._size = (0, 0)
        self.frames = 0

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        try:
            codec = av.CodecContext.create("libx264", "w")
        except (av.FFmpegError, ValueError) as exc:
            raise BridgeSetupError(f"cannot create libx264: {exc}") from exc
        codec.width = width
        codec.height = height
        codec.pix_fmt = "yuv420p"
        codec.bit_rate = self.bit_rate
        codec.time_base = fractions.Fraction(1, CLOCK_RATE)
        codec.framerate = fractions.Fraction(self.fps, 1)
        codec.gop_size = self.gop
        codec.profile = "Baseline"
        codec.options = {"preset": "veryfast", "tune": "zerolatency", "repeat-headers": "1"}
        codec.open()
        self._size = (width, height)
        return codec

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool = False) -> list[tuple[bytes, int]]:
        """One decoded frame at 90 kHz ``pts`` -> Annex B access units with their pts."""
        if self._codec is None or self._size != (frame.width, frame.height):
            self._codec = self._open(frame.width, frame.height)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, CLOCK_RATE)
        frame.pict_type = av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        try:
            packets = self._codec.encode(frame)
        except av.FFmpegError as exc:
            raise BridgeInputError(f"cannot encode video frame: {exc}") from exc
        self.frames += 1
        return [(bytes(p), p.pts if p.pts is not None else pts) for p in packets]
