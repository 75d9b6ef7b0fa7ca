"""What the RTMP layer hands to the application: codec-neutral frozen dataclasses.

Video payloads stay in AVCC/HVCC form (length-prefixed NAL units, the prefix
size given by ``VideoConfig.nal_length_size``); audio payloads are raw AAC
frames.  Times are milliseconds on the RTMP clock (32-bit, may wrap).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Track = Literal["video", "audio"]
VideoCodec = Literal["h264", "hevc"]
AudioCodec = Literal["aac"]


@dataclass(frozen=True, slots=True)
class MediaUnit:
    """One access unit (video) or one AAC frame (audio)."""

    track: Track
    codec: str
    dts_ms: int
    pts_ms: int
    keyframe: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class VideoConfig:
    """AVCDecoderConfigurationRecord (H.264) or HEVCDecoderConfigurationRecord."""

    codec: VideoCodec
    record: bytes
    nal_length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    vps: tuple[bytes, ...] = ()
    dts_ms: int = 0


@dataclass(frozen=True, slots=True)
class AudioConfig:
    """An AAC AudioSpecificConfig and the fields players care about."""

    codec: AudioCodec
    audio_specific_config: bytes
    object_type: int
    sample_rate: int
    channels: int
    dts_ms: int = 0


@dataclass(frozen=True, slots=True)
class Metadata:
    """The ``onMetaData`` properties (width, height, framerate, encoder...)."""

    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Ended:
    """The publish is over: ``unpublished``, ``disconnected``, ``timeout``,
    ``protocol_error``, ``handler_error`` or ``server_closed``."""

    reason: str


MediaEvent = MediaUnit | VideoConfig | AudioConfig
PublishEvent = Metadata | VideoConfig | AudioConfig | MediaUnit | Ended
"""What an accepted publish hands the application, in stream order; ``Ended`` comes last,
exactly once."""
