"""Real H.264/AAC sources for the HLS tests: ffmpeg encodes, PyAV demuxes into hub units."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from media.units import CLOCK_RATE, Track, TrackKind, Unit

VIDEO_ID, AUDIO_ID = 1, 2


@dataclass(frozen=True)
class Source:
    tracks: tuple[Track, ...]
    units: tuple[Unit, ...]


def encode(
    path: Path,
    *,
    size: str = "1280x720",
    rate: int = 30,
    bframes: int = 2,
    gop: int | None = None,
    seconds: float = 4,
    video: bool = True,
    audio: bool = True,
) -> Path:
    """Encode a test pattern and a sine like OBS would send it (H.264 high, AAC) into FLV."""
    args = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    if video:
        args += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high"]
        args += ["-bf", str(bframes), "-g", str(gop or rate), "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k"]
    args += ["-t", str(seconds), str(path)]
    subprocess.run(args, check=True, timeout=120)
    return path


def demux(path: Path) -> Source:
    """Units in decode order with 90 kHz timestamps, as an RTMP publisher would give them."""
    tracks: list[Track] = []
    units: list[Unit] = []
    with av.open(str(path)) as container:
        ids = {}
        for stream in container.streams:
            extradata = bytes(stream.codec_context.extradata or b"")
            if stream.type == "video":
                tracks.append(Track.h264(VIDEO_ID, extradata))
                ids[stream.index] = (VIDEO_ID, TrackKind.VIDEO, stream.time_base)
            elif stream.type == "audio":
                tracks.append(Track.aac(AUDIO_ID, extradata))
                ids[stream.index] = (AUDIO_ID, TrackKind.AUDIO, stream.time_base)
        for packet in container.demux():
            if packet.size == 0 or packet.dts is None:
                continue
            track_id, kind, time_base = ids[packet.stream.index]
            units.append(
                Unit(
                    track_id,
                    kind,
                    _ticks(packet.dts, time_base),
                    _ticks(packet.pts if packet.pts is not None else packet.dts, time_base),
                    bool(packet.is_keyframe) or kind is TrackKind.AUDIO,
                    bytes(packet),
                )
            )
    return Source(tuple(tracks), tuple(units))


def _ticks(value: int, time_base: Fraction | None) -> int:
    assert time_base is not None
    return int(value * time_base * CLOCK_RATE)
