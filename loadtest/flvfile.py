"""FLV files (FLV spec E.2-E.3) for benchmarks and tests: read a recorded show, in hub units.

Not part of the product (nothing we serve reads FLV files); the benchmarks and the tests
replay ffmpeg-made shows with it. :class:`FlvFileReader` reads the container incrementally,
Sans-I/O: feed bytes, get ``FlvTag`` values whose ``body`` is exactly an RTMP audio/video/data
message body. Tags larger than the RTMP message limit for their type are refused, so a hostile
file cannot grow memory; encrypted tags (filter bit) are refused. :func:`read_events` parses
the tags with the RTMP server's own parsers, and :func:`read_show` turns them into hub tracks
and units through the same conversion as a live RTMP publish (:class:`media.rtmp.to_hub.FlvToHub`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from media.rtmp import flv
from media.rtmp.errors import FlvError
from media.rtmp.limits import DEFAULT_LIMITS, Limits
from media.rtmp.to_hub import FlvToHub
from media.rtmp.units import MediaEvent, VideoConfig
from media.units import Track, Unit

TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT = 8, 9, 18
HEADER_SIZE = 9
_TAG_HEADER = 11


@dataclass(frozen=True, slots=True)
class FlvTag:
    tag_type: int
    timestamp: int
    body: bytes

    def serialize(self) -> bytes:
        ts = self.timestamp & 0xFFFFFFFF
        head = bytes([self.tag_type]) + len(self.body).to_bytes(3, "big")
        head += (ts & 0xFFFFFF).to_bytes(3, "big") + bytes([ts >> 24]) + b"\x00\x00\x00"
        return head + self.body + (_TAG_HEADER + len(self.body)).to_bytes(4, "big")


def file_header(audio: bool = True, video: bool = True) -> bytes:
    """The 9-byte FLV header plus PreviousTagSize0."""
    flags = (4 if audio else 0) | (1 if video else 0)
    return b"FLV\x01" + bytes([flags]) + HEADER_SIZE.to_bytes(4, "big") + bytes(4)


class FlvFileReader:
    """Feed file bytes; get tags."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._header_done = False

    def _read_header(self) -> bool:
        if len(self._buf) < 3:
            if not b"FLV".startswith(bytes(self._buf)):
                raise FlvError("not an FLV file")
            return False
        if self._buf[:3] != b"FLV":
            raise FlvError("not an FLV file")
        if len(self._buf) < HEADER_SIZE:
            return False
        offset = int.from_bytes(self._buf[5:9], "big")
        if not HEADER_SIZE <= offset <= 1024:
            raise FlvError(f"FLV header size {offset}")
        if len(self._buf) < offset + 4:
            return False
        del self._buf[: offset + 4]
        self._header_done = True
        return True

    def _read_tag(self) -> FlvTag | None:
        buf = self._buf
        if len(buf) < _TAG_HEADER:
            return None
        if buf[0] & 0x20:
            raise FlvError("encrypted FLV tags are not supported")
        tag_type = buf[0] & 0x1F
        size = int.from_bytes(buf[1:4], "big")
        if size > self.limits.message_limit(tag_type):
            raise FlvError(f"FLV tag type {tag_type} of {size} bytes is over the limit")
        if len(buf) < _TAG_HEADER + size + 4:
            return None
        timestamp = int.from_bytes(buf[4:7], "big") | buf[7] << 24
        body = bytes(buf[_TAG_HEADER : _TAG_HEADER + size])
        del buf[: _TAG_HEADER + size + 4]
        return FlvTag(tag_type, timestamp, body)

    def feed(self, data: bytes) -> list[FlvTag]:
        self._buf += data
        if not self._header_done and not self._read_header():
            return []
        tags = []
        while (tag := self._read_tag()) is not None:
            tags.append(tag)
        return tags


def read_events(data: bytes) -> list[MediaEvent]:
    """The codec headers and media of a whole FLV file, in file order (script tags skipped)."""
    events: list[MediaEvent] = []
    nal_length_size = 4
    for tag in FlvFileReader().feed(data):
        event: MediaEvent | None = None
        if tag.tag_type == TAG_VIDEO:
            event = flv.parse_video(tag.body, tag.timestamp, nal_length_size)
            if isinstance(event, VideoConfig):
                nal_length_size = event.nal_length_size
        elif tag.tag_type == TAG_AUDIO:
            event = flv.parse_audio(tag.body, tag.timestamp)
        if event is not None:
            events.append(event)
    return events


def read_show(path: Path) -> tuple[tuple[Track, ...], list[Unit]]:
    """A recorded show as a publish would write it into the hub: its tracks (the last header
    of each) and its units."""
    convert = FlvToHub(f"file:{path.name}").convert
    tracks: dict[int, Track] = {}
    units: list[Unit] = []
    for event in read_events(path.read_bytes()):
        out = convert(event)
        if isinstance(out, Unit):
            units.append(out)
        elif out is not None:
            tracks[out.id] = out
    return tuple(tracks.values()), units
