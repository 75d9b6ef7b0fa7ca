"""WHEP viewers: hub readers turned into aiortc tracks of already-encoded media.

:class:`VideoPacketTrack` reads one hub reader. Its :meth:`~VideoPacketTrack.next_encoded`
gives the viewer's sender the RTP payloads of each H.264 access unit (SPS/PPS put before every
keyframe), made once per room and shared by all its viewers (:mod:`media.webrtc.payloads`);
only the RTP timestamp is the viewer's own. The room's sender (:mod:`media.webrtc.fanout`)
takes the same with :meth:`~VideoPacketTrack.poll_encoded`, which never waits. (``recv()``
still returns an Annex B ``av.Packet`` for a sender without that hook, which aiortc
packetizes itself.) :class:`AudioPacketTrack` does
the same with a reader of the stream's derived Opus track (:mod:`media.webrtc.bridge`). A viewer starts on a keyframe: the GOP cache for a source that cannot
make one on demand (RTMP), else the next keyframe, which we ask the publisher for. A slow
viewer's reader drops to the next keyframe (:mod:`media.reader`); others never notice.

Timestamps stay continuous for the viewer across publisher reconnects: when a new session's
units start over, the track shifts them to follow on from the last one it sent.
"""

from __future__ import annotations

import fractions
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCEncodedFrame

from media.errors import StreamEnded
from media.h264 import AvcDecoderConfig
from media.reader import Reader, ReaderItem
from media.units import CLOCK_RATE, Codec, StreamHeader, Unit
from media.webrtc.annexb import avcc_to_annexb
from media.webrtc.payloads import H264Payloads

if TYPE_CHECKING:
    Packet = av.Packet[Any]
else:
    Packet = av.Packet
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)
GAP_TICKS = 3000  # what we put between the last unit of a session and the first of the next
OPUS_RTP_RATE = 48_000


class _Rebaser:
    """Keeps one track's output timestamps increasing across publisher sessions."""

    def __init__(self) -> None:
        self._offset = 0
        self._last: int | None = None
        self._pending = False

    def new_session(self) -> None:
        self._pending = self._last is not None

    def map(self, pts: int) -> int:
        if self._pending and self._last is not None:
            self._offset = self._last + GAP_TICKS - pts
            self._pending = False
        out = pts + self._offset
        self._last = out
        return out


def _packet(data: bytes, pts: int) -> Packet:
    packet = av.Packet(data)
    packet.pts = pts
    packet.dts = pts
    packet.time_base = TIME_BASE
    return packet


def _buffered(track: MediaStreamTrack, reader: Reader) -> ReaderItem | None:
    """The reader's next item if one is buffered now, else None; once the stream ended, the
    track stops and MediaStreamError is raised (what a track's ``recv`` does then)."""
    try:
        return reader.read_nowait()
    except StreamEnded:
        track.stop()
        raise MediaStreamError from None


class VideoPacketTrack(MediaStreamTrack):
    """One viewer's H.264 from the hub; see the module docstring."""

    kind = "video"

    def __init__(self, reader: Reader, *, skip_cached: int = 0,
                 on_wait_keyframe: Callable[[], None] | None = None,
                 payloads: H264Payloads | None = None) -> None:
        super().__init__()
        self._reader = reader
        self._payloads = payloads or H264Payloads()
        self._config_record: bytes | None = None
        self._skip = skip_cached
        self._on_wait_keyframe = on_wait_keyframe
        self._track_id: int | None = None
        self._length_size = 4
        self._config: AvcDecoderConfig | None = None
        self._session: int | None = None
        self._need_keyframe = True
        self._time = _Rebaser()
        self.sent = 0

    @property
    def reader(self) -> Reader:
        """The viewer's hub reader (bounded; see :mod:`media.reader` for what overflow does)."""
        return self._reader

    async def next_encoded(self, _codec: RTCRtpCodecParameters | None = None) -> RTCEncodedFrame:
        """The next access unit as shared RTP payloads and this viewer's RTP timestamp (the
        shape of aiortc's ``RTCRtpSender._next_encoded_frame``; see :mod:`media.webrtc.taps`)."""
        unit = await self._next_unit()
        return RTCEncodedFrame(*self._encoded(unit), None)  # type: ignore[arg-type]

    def poll_encoded(self) -> tuple[list[bytes], int] | None:
        """What :meth:`next_encoded` gives, as (payloads, timestamp), if a unit to send is
        buffered now, else None; never waits (the room's sender, :mod:`media.webrtc.fanout`,
        calls it when the reader has news). Raises MediaStreamError once the stream ended."""
        while (item := _buffered(self, self._reader)) is not None:
            unit = self._take(item)
            if unit is not None:
                return self._encoded(unit)
        return None

    def _encoded(self, unit: Unit) -> tuple[list[bytes], int]:
        config = self._config if unit.keyframe else None
        payloads = self._payloads.get(unit, self._length_size, config, self._config_record)
        return payloads, self._time.map(unit.pts)

    async def recv(self) -> Packet:
        unit = await self._next_unit()
        data = avcc_to_annexb(unit.payload, self._length_size, self._config if unit.keyframe else None)
        return _packet(data, self._time.map(unit.pts))

    async def _next_unit(self) -> Unit:
        while True:
            try:
                item = await self._reader.read()
            except StreamEnded:
                self.stop()
                raise MediaStreamError from None
            unit = self._take(item)
            if unit is not None:
                return unit

    def _take(self, item: Unit | StreamHeader) -> Unit | None:
        """``item`` if it is a unit to send (counted in :attr:`sent`); a header is noted."""
        if isinstance(item, StreamHeader):
            self._on_header(item)
            return None
        if not self._wanted(item):
            return None
        self.sent += 1
        return item

    def _on_header(self, header: StreamHeader) -> None:
        track = next((t for t in header.tracks if t.codec is Codec.H264), None)
        if self._session is not None and header.session != self._session:
            self._time.new_session()
            self._need_keyframe = True
        self._session = header.session
        if track is None:
            self._track_id = None
            return
        self._track_id = track.id
        self._length_size = track.length_size
        if track.config != self._config_record:
            self._config_record = track.config
            self._config = AvcDecoderConfig.parse(track.config)

    def _wanted(self, unit: Unit) -> bool:
        """Whether to send ``unit``: a unit of our track, from a keyframe on."""
        if self._skip > 0:
            self._skip -= 1
            return False
        if unit.track_id != self._track_id:
            return False
        if self._need_keyframe:
            if not unit.keyframe:
                if self._on_wait_keyframe is not None:
                    self._on_wait_keyframe()
                return False
            self._need_keyframe = False
        return True

    def stop(self) -> None:
        super().stop()
        self._reader.close()


class AudioPacketTrack(MediaStreamTrack):
    """One viewer's Opus from a reader of the stream's derived Opus track."""

    kind = "audio"

    def __init__(self, reader: Reader) -> None:
        super().__init__()
        self._reader = reader
        self._time = _Rebaser()
        self._last_pts: int | None = None

    @property
    def reader(self) -> Reader:
        return self._reader

    async def next_encoded(self, _codec: RTCRtpCodecParameters | None = None) -> RTCEncodedFrame:
        """The next Opus packet as it is (one RTP payload) with this viewer's RTP timestamp."""
        unit, pts = await self._next_unit()
        return RTCEncodedFrame([unit.payload], pts * OPUS_RTP_RATE // CLOCK_RATE, None)  # type: ignore[arg-type]

    def poll_encoded(self) -> tuple[list[bytes], int] | None:
        """What :meth:`next_encoded` gives, as (payloads, timestamp), if a packet is buffered
        now, else None; never waits (see :meth:`VideoPacketTrack.poll_encoded`)."""
        while (item := _buffered(self, self._reader)) is not None:
            if isinstance(item, Unit):
                return [item.payload], self._map(item) * OPUS_RTP_RATE // CLOCK_RATE
        return None

    async def recv(self) -> Packet:
        unit, pts = await self._next_unit()
        return _packet(unit.payload, pts)

    async def _next_unit(self) -> tuple[Unit, int]:
        while True:
            try:
                item = await self._reader.read()
            except StreamEnded:
                self.stop()
                raise MediaStreamError from None
            if isinstance(item, Unit):
                return item, self._map(item)

    def _map(self, unit: Unit) -> int:
        """``unit``'s pts on this viewer's timeline (a pts going back is a new session)."""
        if self._last_pts is not None and unit.pts < self._last_pts:
            self._time.new_session()
        self._last_pts = unit.pts
        return self._time.map(unit.pts)

    def stop(self) -> None:
        super().stop()
        self._reader.close()
