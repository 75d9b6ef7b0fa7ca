"""Still frames of live streams (the room list's thumbnails): the latest keyframe, as a JPEG.

:func:`annexb_keyframe` is pure: the track's SPS/PPS and the keyframe's NAL units as one
Annex B access unit. :func:`decode_jpeg` runs FFmpeg's H.264 decoder, scaler and MJPEG
encoder through PyAV; it blocks for milliseconds per frame, so :class:`Thumbnails` runs it in
its own one-thread executor, off the event loop.

Cost is bounded whatever the number of requests: a room's JPEG is kept and served again
until it is ``interval_s`` old; a stale one is decoded once however many requests wait for
it (they share the one decode); and one decode runs at a time for all rooms. A stream that is
not held here, has no video, or has not sent a keyframe yet has no thumbnail (None): the page
shows its placeholder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import time
from dataclasses import dataclass

import av

from media import metrics
from media.errors import CodecConfigError
from media.h264 import AvcDecoderConfig, split_avcc
from media.hub import Hub, Stream, StreamState
from media.units import Codec, Track, Unit

START_CODE = b"\x00\x00\x00\x01"


def annexb_keyframe(track: Track, unit: Unit) -> bytes:
    """The keyframe ``unit`` of H.264 ``track`` as Annex B, parameter sets first."""
    record = AvcDecoderConfig.parse(track.config)
    nals = [*record.sps, *record.pps, *split_avcc(unit.payload, track.length_size)]
    return b"".join(START_CODE + nal for nal in nals)


def decode_jpeg(annexb: bytes, width: int) -> bytes:
    """Decode one H.264 access unit and encode it as a JPEG ``width`` pixels wide (never
    wider than the picture). Raises ``ValueError`` when no picture comes out of it."""
    decoder = av.CodecContext.create("h264", "r")
    try:
        frames = [*decoder.decode(av.Packet(annexb)), *decoder.decode(None)]
    except av.FFmpegError as exc:
        raise ValueError(f"cannot decode the keyframe: {exc}") from exc
    if not frames:
        raise ValueError("the keyframe decoded to no picture")
    frame = frames[0]
    out_w = min(width, frame.width) // 2 * 2
    out_h = max(2, round(frame.height * out_w / frame.width) // 2 * 2)
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = out_w, out_h, "yuvj420p"
    encoder.time_base = fractions.Fraction(1, 25)
    encoder.options = {"qmin": "2", "qmax": "6"}
    still = frame.reformat(width=out_w, height=out_h, format="yuvj420p")
    packets = [*encoder.encode(still), *encoder.encode(None)]
    if not packets:
        raise ValueError("the JPEG encoder returned nothing")
    return b"".join(bytes(p) for p in packets)


@dataclass
class _Still:
    session: int
    taken_at: float
    jpeg: bytes | None
    """None: the last try failed (tried again once ``interval_s`` has passed)."""


class Thumbnails:
    """JPEG stills of the hub's live streams, made at most once per ``interval_s`` a room."""

    def __init__(self, hub: Hub, *, interval_s: float = 5.0, width: int = 480) -> None:
        self.hub = hub
        self.interval_s = interval_s
        self.width = width
        self._stills: dict[str, _Still] = {}
        self._making: dict[str, asyncio.Future[bytes | None]] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="thumbnail")
        self._unlisten = hub.on_state_change(self._on_state)

    def _on_state(self, stream: Stream) -> None:
        if stream.state is StreamState.OFFLINE:
            self._stills.pop(stream.slug, None)

    async def jpeg(self, slug: str) -> bytes | None:
        """The room's current still, or None when there is none to show."""
        stream = self.hub.get(slug)
        if stream is None or stream.state is StreamState.OFFLINE:
            self._stills.pop(slug, None)
            return None
        kept = self._stills.get(slug)
        fresh = kept is not None and kept.session == stream.session
        if kept is not None and fresh and time.monotonic() - kept.taken_at < self.interval_s:
            return kept.jpeg
        if stream.state is StreamState.RECONNECTING:
            return kept.jpeg if kept is not None and fresh else None  # the last picture before the drop
        making = self._making.get(slug)
        if making is None:
            making = self._making[slug] = asyncio.ensure_future(self._make(slug, stream.session))
            making.add_done_callback(lambda _: self._making.pop(slug, None))
        return await asyncio.shield(making)

    async def _make(self, slug: str, session: int) -> bytes | None:
        stream = self.hub.get(slug)
        key = stream.keyframe() if stream is not None else None
        kept = self._stills.get(slug)
        last = kept.jpeg if kept is not None and kept.session == session else None
        if key is None or key[0].codec is not Codec.H264:
            return last
        loop = asyncio.get_running_loop()
        try:
            annexb = annexb_keyframe(*key)
            jpeg: bytes | None = await loop.run_in_executor(self._executor, decode_jpeg, annexb, self.width)
        except (ValueError, CodecConfigError):
            metrics.THUMBNAILS.labels("failed").inc()
            jpeg = None
        else:
            metrics.THUMBNAILS.labels("made").inc()
        self._stills[slug] = _Still(session, time.monotonic(), jpeg or last)
        return jpeg or last

    def close(self) -> None:
        self._unlisten()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._stills.clear()
