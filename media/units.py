"""What flows through the hub: tracks (with their codec configuration) and units.

Timestamps: every ``Unit.dts`` and ``Unit.pts`` is an integer on one 90 kHz clock
(:data:`CLOCK_RATE`), whatever the track kind. RTMP's milliseconds map exactly (x90),
RTP video is already 90 kHz and Opus' 48 kHz frames of 20 ms are exactly 1800 ticks.
Writers convert to their own timescales (fMP4 audio uses the sample rate).

Payloads: H.264 is one access unit in AVCC form (NAL units each prefixed with a big-endian
length of ``Track.length_size`` bytes, as in FLV and MP4); AAC is one raw frame (no ADTS
header); Opus is one packet.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from media.audio import AacConfig, OpusHead
from media.errors import CodecConfigError
from media.h264 import AvcDecoderConfig, parse_sps

CLOCK_RATE = 90_000
"""Ticks per second of every unit timestamp."""


class TrackKind(enum.StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


class Codec(enum.StrEnum):
    H264 = "h264"
    HEVC = "hevc"
    AAC = "aac"
    OPUS = "opus"


@dataclass(frozen=True, slots=True)
class Track:
    """One elementary stream of a publication and its codec configuration.

    Build with :meth:`h264`, :meth:`aac` or :meth:`opus`, which validate ``config`` and fill
    in the derived fields.
    """

    id: int
    kind: TrackKind
    codec: Codec
    config: bytes
    codec_string: str
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0
    length_size: int = 4

    @classmethod
    def h264(cls, track_id: int, avcc: bytes) -> Track:
        """A video track from an AVCDecoderConfigurationRecord (FLV's AVC sequence header)."""
        record = AvcDecoderConfig.parse(avcc)
        sps = parse_sps(record.sps[0])
        return cls(
            track_id, TrackKind.VIDEO, Codec.H264, avcc, record.codec_string,
            width=sps.width, height=sps.height, length_size=record.length_size,
        )  # fmt: skip

    @classmethod
    def aac(cls, track_id: int, audio_specific_config: bytes) -> Track:
        info = AacConfig.parse(audio_specific_config)
        return cls(
            track_id, TrackKind.AUDIO, Codec.AAC, audio_specific_config, info.codec_string,
            sample_rate=info.sample_rate, channels=info.channels,
        )  # fmt: skip

    @classmethod
    def opus(cls, track_id: int, opus_head: bytes) -> Track:
        info = OpusHead.parse(opus_head)
        return cls(
            track_id, TrackKind.AUDIO, Codec.OPUS, opus_head, "opus",
            sample_rate=48_000, channels=info.channels,
        )  # fmt: skip

    def __post_init__(self) -> None:
        if self.id <= 0:
            raise CodecConfigError(f"track id must be positive, got {self.id}")


@dataclass(frozen=True, slots=True)
class Unit:
    """One access unit: a video frame or an audio frame (see the module docstring)."""

    track_id: int
    kind: TrackKind
    dts: int
    pts: int
    keyframe: bool
    payload: bytes = field(repr=False)

    @property
    def composition_offset(self) -> int:
        return self.pts - self.dts


@dataclass(frozen=True, slots=True)
class StreamHeader:
    """Told to every reader first, and again whenever the tracks or the publisher change.

    ``session`` counts publisher sessions of the stream (1 for the first publisher, +1 on each
    reconnect). A header with a new session number means a timeline discontinuity; one with
    the same number means only the track set changed (e.g. a late audio config).
    """

    session: int
    tracks: tuple[Track, ...]

    def track(self, track_id: int) -> Track | None:
        for track in self.tracks:
            if track.id == track_id:
                return track
        return None
