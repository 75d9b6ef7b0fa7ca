"""Recorded (EVENT, then VOD) media playlists: render, parse, map wall time to media time.

Pure: values in, text out, and back. This is the playlist a recording keeps on disk
(:mod:`media.hls.recorder`) and the replay serves: full segments only, no parts, one
``EXT-X-PROGRAM-DATE-TIME`` per segment, ``EXT-X-DISCONTINUITY`` where the publisher
reconnected (or the recorder skipped a gap), ``EXT-X-MAP`` where the init changes.

While the show runs the playlist is ``EXT-X-PLAYLIST-TYPE:EVENT`` (segments are only ever
appended, RFC 8216 section 4.3.3.5); closing it renders ``VOD`` with ``EXT-X-ENDLIST``.
:func:`parse` reads back exactly what :meth:`VodPlaylist.render` writes (and tolerates a
last line cut short: a line counts once its line end is there, and an ``EXTINF`` without
its URI is not a segment).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, replace

from media.hls.playlist import VERSION, format_date_time


class VodParseError(ValueError):
    """The text is not a recorded playlist of ours."""


@dataclass(frozen=True, slots=True)
class VodSegment:
    uri: str
    duration: float
    """Seconds."""
    program_date_time: float | None = None
    """Wall clock (epoch seconds) of the segment's first sample."""
    discontinuity: bool = False
    map_uri: str | None = None
    """The init segment; on the first segment and wherever it changes."""


@dataclass(frozen=True, slots=True)
class VodPlaylist:
    segments: tuple[VodSegment, ...] = ()
    ended: bool = False
    target_duration: int = 1

    def append(self, segment: VodSegment) -> VodPlaylist:
        target = max(self.target_duration, math.ceil(segment.duration - 0.0005))
        return replace(self, segments=(*self.segments, segment), target_duration=target)

    def closed(self) -> VodPlaylist:
        return replace(self, ended=True)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def discontinuities(self) -> int:
        return sum(s.discontinuity for s in self.segments)

    def render(self) -> str:
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{VERSION}",
            f"#EXT-X-PLAYLIST-TYPE:{'VOD' if self.ended else 'EVENT'}",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        for segment in self.segments:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if segment.map_uri is not None:
                lines.append(f'#EXT-X-MAP:URI="{segment.map_uri}"')
            if segment.program_date_time is not None:
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_date_time(segment.program_date_time)}")
            lines.append(f"#EXTINF:{segment.duration:.5f},")
            lines.append(segment.uri)
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def position_at(self, wall: float) -> float | None:
        """Media time (seconds from the start) of wall-clock ``wall``; a moment in a gap
        (the publisher away, or before the first segment) maps to the start of the next
        segment. None after the last."""
        position = 0.0
        for segment in self.segments:
            start = segment.program_date_time
            if start is not None and wall < start + segment.duration:
                return position + max(0.0, wall - start)
            position += segment.duration
        return None

    def clip(self, start: float, end: float) -> VodPlaylist:
        """The segments that overlap media time [start, end), as a closed playlist; the
        first keeps (or gets) its EXT-X-MAP. Whole segments: a clip starts on a keyframe."""
        kept: list[VodSegment] = []
        position, current_map = 0.0, None
        for segment in self.segments:
            current_map = segment.map_uri or current_map
            if position < end and position + segment.duration > start:
                if not kept:
                    segment = replace(segment, discontinuity=False, map_uri=current_map)
                kept.append(segment)
            position += segment.duration
        playlist = VodPlaylist(ended=True)
        for segment in kept:
            playlist = playlist.append(segment)
        return playlist


def parse(text: str) -> VodPlaylist:
    """Read a playlist written by :meth:`VodPlaylist.render` (see the module docstring)."""
    lines = text.split("\n")
    if len(lines) > 1:
        lines.pop()  # what follows the last line end: empty, or a line cut short
    if not lines or lines[0] != "#EXTM3U":
        raise VodParseError("not an M3U playlist")
    playlist = VodPlaylist()
    pending: dict[str, object] = {}
    duration: float | None = None
    for line in lines[1:]:
        if line == "#EXT-X-ENDLIST":
            playlist = playlist.closed()
        elif line == "#EXT-X-DISCONTINUITY":
            pending["discontinuity"] = True
        elif line.startswith('#EXT-X-MAP:URI="') and line.endswith('"'):
            pending["map_uri"] = line[len('#EXT-X-MAP:URI="') : -1]
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pending["program_date_time"] = _parse_date_time(line.partition(":")[2])
        elif line.startswith("#EXTINF:"):
            duration = _parse_float(line[len("#EXTINF:") :].rstrip(","))
        elif line and not line.startswith("#"):
            if duration is None:
                raise VodParseError(f"segment {line!r} has no EXTINF")
            segment = VodSegment(line, duration, **pending)  # type: ignore[arg-type]
            playlist = playlist.append(segment)
            pending, duration = {}, None
    return playlist


def _parse_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise VodParseError(f"bad duration {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise VodParseError(f"bad duration {raw!r}")
    return value


def _parse_date_time(raw: str) -> float:
    try:
        moment = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise VodParseError(f"bad EXT-X-PROGRAM-DATE-TIME {raw!r}") from None
