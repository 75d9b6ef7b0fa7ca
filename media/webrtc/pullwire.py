"""The messages of an edge pull: one room's media from its origin node to an edge relay.

Each message is one binary WebSocket message (the WebSocket frames them, so a message is
always whole); its first byte names its type. Integers are big-endian.

Origin to edge:

* ``HEADER`` (0x01): the hub's :class:`~media.units.StreamHeader` and whether the origin's
  publisher makes keyframes on demand (WHIP) or not (RTMP: new viewers start from the GOP)::

      u32 session | u8 flags (bit 0: on demand) | u8 track count |
      per track: u16 id | u8 codec | u32 config length | config

* ``UNIT`` (0x02): one hub :class:`~media.units.Unit`::

      u16 track id | u8 kind (0 video, 1 audio) | u8 flags (bit 0: keyframe) | i64 dts | i64 pts | payload

* ``OPUS`` (0x03): one packet of the stream's derived Opus (what WHEP viewers hear)::

      i64 pts | payload

Edge to origin:

* ``KEYFRAME`` (0x04): a viewer of the edge waits for a keyframe (no body).

A track is rebuilt on parse with :meth:`Track.h264`, :meth:`Track.aac` or :meth:`Track.opus`,
so a codec configuration the hub could not take is refused here too. Anything malformed,
truncated or with bytes left over raises :class:`~media.webrtc.errors.WireError`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from media.errors import CodecConfigError
from media.units import Codec, StreamHeader, Track, TrackKind, Unit
from media.webrtc.errors import WireError

PATH = "/internal/edge/{slug}"
"""Where an origin serves a room's pull (a WebSocket; :mod:`media.webrtc.pull`)."""

HEADER, UNIT, OPUS, KEYFRAME = 0x01, 0x02, 0x03, 0x04
_CODECS = {Codec.H264: 1, Codec.AAC: 2, Codec.OPUS: 3}
_BUILD = {1: Track.h264, 2: Track.aac, 3: Track.opus}
_KINDS = (TrackKind.VIDEO, TrackKind.AUDIO)
_HEAD = struct.Struct(">IBB")
_TRACK = struct.Struct(">HBI")
_UNIT = struct.Struct(">HBBqq")
_PTS = struct.Struct(">q")


@dataclass(frozen=True, slots=True)
class Header:
    header: StreamHeader
    on_demand: bool

    def __bytes__(self) -> bytes:
        out = [bytes([HEADER]), _HEAD.pack(self.header.session, int(self.on_demand), len(self.header.tracks))]
        for track in self.header.tracks:
            code = _CODECS.get(track.codec)
            if code is None:
                raise WireError(f"track {track.id}: {track.codec} cannot be pulled")
            out += [_TRACK.pack(track.id, code, len(track.config)), track.config]
        return b"".join(out)

    @classmethod
    def parse(cls, body: bytes) -> Header:
        session, flags, count = _unpack(_HEAD, body, 0, "header")
        at = _HEAD.size
        tracks = []
        for _ in range(count):
            track_id, code, length = _unpack(_TRACK, body, at, "track")
            at += _TRACK.size
            if len(body) < at + length:
                raise WireError(f"track {track_id}: config of {length} bytes truncated at {len(body) - at}")
            build = _BUILD.get(code)
            if build is None:
                raise WireError(f"track {track_id}: unknown codec {code}")
            try:
                tracks.append(build(track_id, body[at:at + length]))
            except CodecConfigError as exc:
                raise WireError(f"track {track_id}: {exc}") from exc
            at += length
        if at != len(body):
            raise WireError(f"header: {len(body) - at} bytes left over")
        return cls(StreamHeader(session, tuple(tracks)), bool(flags & 1))


@dataclass(frozen=True, slots=True)
class UnitMessage:
    unit: Unit

    def __bytes__(self) -> bytes:
        u = self.unit
        head = _UNIT.pack(u.track_id, _KINDS.index(u.kind), int(u.keyframe), u.dts, u.pts)
        return bytes([UNIT]) + head + u.payload

    @classmethod
    def parse(cls, body: bytes) -> UnitMessage:
        track_id, kind, flags, dts, pts = _unpack(_UNIT, body, 0, "unit")
        if kind >= len(_KINDS):
            raise WireError(f"unit: unknown kind {kind}")
        if track_id == 0:
            raise WireError("unit: track id 0")
        return cls(Unit(track_id, _KINDS[kind], dts, pts, bool(flags & 1), body[_UNIT.size:]))


@dataclass(frozen=True, slots=True)
class OpusPacket:
    pts: int
    payload: bytes

    def __bytes__(self) -> bytes:
        return bytes([OPUS]) + _PTS.pack(self.pts) + self.payload

    @classmethod
    def parse(cls, body: bytes) -> OpusPacket:
        (pts,) = _unpack(_PTS, body, 0, "opus")
        return cls(pts, body[_PTS.size:])


@dataclass(frozen=True, slots=True)
class KeyframeRequest:
    def __bytes__(self) -> bytes:
        return bytes([KEYFRAME])

    @classmethod
    def parse(cls, body: bytes) -> KeyframeRequest:
        if body:
            raise WireError(f"keyframe request: {len(body)} bytes left over")
        return cls()


Message = Header | UnitMessage | OpusPacket | KeyframeRequest
_PARSERS: dict[int, Callable[[bytes], Message]] = {
    HEADER: Header.parse, UNIT: UnitMessage.parse, OPUS: OpusPacket.parse, KEYFRAME: KeyframeRequest.parse,
}


def parse(data: bytes) -> Message:
    """One whole message (see the module docstring)."""
    if not data:
        raise WireError("empty message")
    parser = _PARSERS.get(data[0])
    if parser is None:
        raise WireError(f"unknown message type {data[0]:#04x}")
    return parser(data[1:])


def _unpack(layout: struct.Struct, body: bytes, at: int, what: str) -> tuple[int, ...]:
    if len(body) < at + layout.size:
        raise WireError(f"{what}: {layout.size} bytes needed at {at}, {len(body) - at} there")
    values: tuple[int, ...] = layout.unpack_from(body, at)
    return values
