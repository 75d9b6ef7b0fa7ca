"""Audio codec configuration: AAC AudioSpecificConfig and the Opus identification header.

AudioSpecificConfig: ISO/IEC 14496-3 section 1.6.2.1. OpusHead: RFC 7845 section 5.1.
Pure functions; malformed input raises :class:`CodecConfigError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from media.errors import CodecConfigError

AAC_SAMPLE_RATES = (  # ISO/IEC 14496-3 samplingFrequencyIndex
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)


class _Bits:
    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = 8 * len(data)

    def read(self, count: int) -> int:
        if count > self._left:
            raise CodecConfigError("AudioSpecificConfig ends in the middle of a field")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)


@dataclass(frozen=True, slots=True)
class AacConfig:
    """The fields of an AudioSpecificConfig that the hub and the fMP4 writer need."""

    object_type: int
    sample_rate: int
    channels: int

    @classmethod
    def parse(cls, data: bytes) -> AacConfig:
        if len(data) < 2:
            raise CodecConfigError(f"AudioSpecificConfig of {len(data)} bytes is too short")
        bits = _Bits(data)
        object_type = bits.read(5)
        if object_type == 31:
            object_type = 32 + bits.read(6)
        index = bits.read(4)
        if index == 15:
            rate = bits.read(24)
        elif index < len(AAC_SAMPLE_RATES):
            rate = AAC_SAMPLE_RATES[index]
        else:
            raise CodecConfigError(f"AudioSpecificConfig has reserved sample rate index {index}")
        channels = bits.read(4)
        if object_type == 0 or rate == 0:
            raise CodecConfigError("AudioSpecificConfig has no object type or sample rate")
        return cls(object_type, rate, channels)

    @property
    def codec_string(self) -> str:
        """RFC 6381 ``codecs`` value, e.g. ``mp4a.40.2``."""
        return f"mp4a.40.{self.object_type}"


@dataclass(frozen=True, slots=True)
class OpusHead:
    """RFC 7845 identification header (only channel mapping family 0 and 1 fields kept raw)."""

    channels: int
    pre_skip: int
    input_sample_rate: int
    output_gain: int
    mapping_family: int
    mapping_table: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> OpusHead:
        if len(data) < 19 or data[:8] != b"OpusHead":
            raise CodecConfigError("not an OpusHead (RFC 7845 section 5.1)")
        if data[8] >> 4 != 0:
            raise CodecConfigError(f"unsupported OpusHead version {data[8]}")
        channels, pre_skip, rate, gain, family = struct.unpack_from("<BHIhB", data, 9)
        if channels == 0:
            raise CodecConfigError("OpusHead has zero channels")
        return cls(channels, pre_skip, rate, gain, family, data[19:])
