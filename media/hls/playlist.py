"""LL-HLS media playlist rendering (draft-pantos-hls-rfc8216bis, "HLS 2nd edition").

Pure: values in (time is passed in as the program date time of each segment), text out.
Version 6 is what the tags we write need (EXT-X-MAP in a media playlist that is not
I-frames only, section 4.4.4.5); the low-latency tags carry no version requirement and
we do not use EXT-X-SKIP (version 9).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

VERSION = 6


@dataclass(frozen=True, slots=True)
class PartEntry:
    uri: str
    duration: float
    independent: bool


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """One media segment. ``complete=False`` is the segment being written: only its parts
    are listed. ``map_uri`` is set on the first segment and wherever the init changes."""

    msn: int
    uri: str
    duration: float
    parts: tuple[PartEntry, ...] = ()
    complete: bool = True
    discontinuity: bool = False
    map_uri: str | None = None
    program_date_time: float | None = None


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    target_duration: int
    part_target: float
    media_sequence: int
    discontinuity_sequence: int
    segments: tuple[SegmentEntry, ...]
    preload_hint: str | None = None
    part_hold_back: float | None = None
    ended: bool = False

    def render(self) -> str:
        """The playlist text (lines end with LF, the document ends with one)."""
        hold_back = self.part_hold_back if self.part_hold_back is not None else 3 * self.part_target
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{VERSION}",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={_decimal(hold_back)}",
            f"#EXT-X-PART-INF:PART-TARGET={_decimal(self.part_target)}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.media_sequence}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        for segment in self.segments:
            lines.extend(_segment_lines(segment))
        if self.preload_hint is not None and not self.ended:
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.preload_hint}"')
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def _segment_lines(segment: SegmentEntry) -> list[str]:
    lines = []
    if segment.discontinuity:
        lines.append("#EXT-X-DISCONTINUITY")
    if segment.map_uri is not None:
        lines.append(f'#EXT-X-MAP:URI="{segment.map_uri}"')
    if segment.program_date_time is not None:
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_date_time(segment.program_date_time)}")
    for part in segment.parts:
        independent = ",INDEPENDENT=YES" if part.independent else ""
        lines.append(
            f'#EXT-X-PART:DURATION={_decimal(part.duration)},URI="{part.uri}"{independent}'
        )
    if segment.complete:
        lines.append(f"#EXTINF:{_decimal(segment.duration)},")
        lines.append(segment.uri)
    return lines


def _decimal(value: float) -> str:
    return f"{value:.5f}"


def format_date_time(epoch_seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, as EXT-X-PROGRAM-DATE-TIME wants (section 4.4.4.6)."""
    moment = datetime.datetime.fromtimestamp(epoch_seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
