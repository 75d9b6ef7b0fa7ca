"""FLV audio and video tag bodies (FLV spec 10.1 E.4.2-3, Enhanced RTMP v1), both ways.

Parsing turns an RTMP audio (8) or video (9) message body into a ``VideoConfig``,
``AudioConfig`` or ``MediaUnit`` (``units.py``), or ``None`` for tags we pass
over (end of sequence, command frames, non-AAC audio, codecs we do not carry).
Building is the inverse, for the relay's publisher.

Rules:

* Legacy video: byte 0 = frame type << 4 | codec id (7 AVC; 12 HEVC as some
  encoders send), then AVCPacketType and a signed 24-bit composition time:
  pts = dts + cts.
* Enhanced video: bit 7 of byte 0 set, frame type in bits 4-6, packet type in
  bits 0-3, then a FourCC ('avc1', 'hvc1').  CodedFrames carries a cts,
  CodedFramesX does not (cts 0).
* Audio: sound format 10 (AAC) with AACPacketType 0 (AudioSpecificConfig) or 1.
* Video payloads are checked to be whole length-prefixed NAL units.
"""

from __future__ import annotations

import enum

from media.audio import AAC_SAMPLE_RATES

from .errors import FlvError
from .units import AudioConfig, MediaUnit, VideoConfig

CODEC_AVC = 7
CODEC_HEVC_LEGACY = 12
SOUND_AAC = 10
FOURCC_CODECS = {b"avc1": "h264", b"hvc1": "hevc"}
CODEC_FOURCC = {"h264": b"avc1", "hevc": b"hvc1"}
SAMPLE_RATES = AAC_SAMPLE_RATES


class FrameType(enum.IntEnum):
    KEY = 1
    INTER = 2
    DISPOSABLE = 3
    GENERATED_KEY = 4
    COMMAND = 5


class ExPacketType(enum.IntEnum):
    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5


def _si24(raw: bytes) -> int:
    value = int.from_bytes(raw, "big")
    return value - (1 << 24) if value & 0x800000 else value


def split_nal_units(payload: bytes, length_size: int) -> list[bytes]:
    """Split length-prefixed NAL units; ``FlvError`` if the framing does not add up."""
    units, pos = [], 0
    while pos < len(payload):
        if pos + length_size > len(payload):
            raise FlvError("truncated NAL unit length prefix")
        n = int.from_bytes(payload[pos : pos + length_size], "big")
        pos += length_size
        if n == 0 or pos + n > len(payload):
            raise FlvError(f"NAL unit of {n} bytes does not fit the remaining {len(payload) - pos}")
        units.append(payload[pos : pos + n])
        pos += n
    return units


def _read_u16_prefixed(record: bytes, pos: int, count: int) -> tuple[tuple[bytes, ...], int]:
    items = []
    for _ in range(count):
        if pos + 2 > len(record):
            raise FlvError("truncated parameter set length")
        n = int.from_bytes(record[pos : pos + 2], "big")
        if pos + 2 + n > len(record):
            raise FlvError("truncated parameter set")
        items.append(record[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return tuple(items), pos


def parse_avc_config(record: bytes, dts_ms: int = 0) -> VideoConfig:
    """AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) -> SPS/PPS."""
    if len(record) < 7 or record[0] != 1:
        raise FlvError("AVCDecoderConfigurationRecord shorter than 7 bytes or version != 1")
    sps, pos = _read_u16_prefixed(record, 6, record[5] & 0x1F)
    if pos >= len(record):
        raise FlvError("AVCDecoderConfigurationRecord without a PPS count")
    pps, _ = _read_u16_prefixed(record, pos + 1, record[pos])
    if not sps or not pps:
        raise FlvError("AVCDecoderConfigurationRecord without SPS or PPS")
    return VideoConfig("h264", record, (record[4] & 3) + 1, sps, pps, (), dts_ms)


def parse_hevc_config(record: bytes, dts_ms: int = 0) -> VideoConfig:
    """HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) -> VPS/SPS/PPS."""
    if len(record) < 23 or record[0] != 1:
        raise FlvError("HEVCDecoderConfigurationRecord shorter than 23 bytes or version != 1")
    sets: dict[int, list[bytes]] = {32: [], 33: [], 34: []}
    pos = 23
    for _ in range(record[22]):
        if pos + 3 > len(record):
            raise FlvError("truncated HEVC parameter set array")
        nal_type = record[pos] & 0x3F
        nalus, pos = _read_u16_prefixed(record, pos + 3, int.from_bytes(record[pos + 1 : pos + 3]))
        sets.setdefault(nal_type, []).extend(nalus)
    length_size = (record[21] & 3) + 1
    return VideoConfig(
        "hevc", record, length_size, tuple(sets[33]), tuple(sets[34]), tuple(sets[32]), dts_ms
    )


def parse_audio_specific_config(asc: bytes, dts_ms: int = 0) -> AudioConfig:
    """AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): object type, rate, channels."""
    total = len(asc[:6]) * 8
    bits = int.from_bytes(asc[:6], "big")
    used = 0

    def take(n: int) -> int:
        nonlocal used
        used += n
        if used > total:
            raise FlvError(f"AudioSpecificConfig of {len(asc)} bytes is truncated")
        return (bits >> (total - used)) & ((1 << n) - 1)

    object_type = take(5)
    if object_type == 31:
        object_type = 32 + take(6)
    index = take(4)
    if index == 0xF:
        rate = take(24)
    elif index < len(SAMPLE_RATES):
        rate = SAMPLE_RATES[index]
    else:
        raise FlvError(f"reserved AAC sampling frequency index {index}")
    return AudioConfig("aac", asc, object_type, rate, take(4), dts_ms)


def _video_config(codec: str, record: bytes, dts: int) -> VideoConfig:
    return parse_avc_config(record, dts) if codec == "h264" else parse_hevc_config(record, dts)


def _video_unit(codec: str, key: bool, dts: int, cts: int, payload: bytes, nls: int) -> MediaUnit:
    split_nal_units(payload, nls)  # framing check, so readers never see a torn unit
    return MediaUnit("video", codec, dts, dts + cts, key, payload)


def _legacy_video(body: bytes, dts: int, nls: int) -> VideoConfig | MediaUnit | None:
    frame_type, codec_id = body[0] >> 4, body[0] & 0xF
    if codec_id not in (CODEC_AVC, CODEC_HEVC_LEGACY) or frame_type == FrameType.COMMAND:
        return None
    if len(body) < 5:
        raise FlvError(f"AVC video tag of {len(body)} bytes, expected at least 5")
    codec = "h264" if codec_id == CODEC_AVC else "hevc"
    packet_type, cts = body[1], _si24(body[2:5])
    if packet_type == 0:
        return _video_config(codec, body[5:], dts)
    if packet_type == 1:
        key = frame_type in (FrameType.KEY, FrameType.GENERATED_KEY)
        return _video_unit(codec, key, dts, cts, body[5:], nls) if len(body) > 5 else None
    if packet_type == 2:
        return None
    raise FlvError(f"unknown AVCPacketType {packet_type}")


def _enhanced_video(body: bytes, dts: int, nls: int) -> VideoConfig | MediaUnit | None:
    if len(body) < 5:
        raise FlvError(f"enhanced video tag of {len(body)} bytes, expected at least 5")
    frame_type, packet_type, fourcc = (body[0] >> 4) & 7, body[0] & 0xF, body[1:5]
    codec = FOURCC_CODECS.get(fourcc)
    if codec is None or frame_type == FrameType.COMMAND:
        return None
    key = frame_type in (FrameType.KEY, FrameType.GENERATED_KEY)
    if packet_type == ExPacketType.SEQUENCE_START:
        return _video_config(codec, body[5:], dts)
    if packet_type == ExPacketType.CODED_FRAMES:
        if len(body) < 8:
            raise FlvError("enhanced CodedFrames without composition time")
        return _video_unit(codec, key, dts, _si24(body[5:8]), body[8:], nls)
    if packet_type == ExPacketType.CODED_FRAMES_X:
        return _video_unit(codec, key, dts, 0, body[5:], nls)
    if packet_type in (ExPacketType.SEQUENCE_END, ExPacketType.METADATA):
        return None
    raise FlvError(f"unsupported enhanced video packet type {packet_type}")


def parse_video(
    body: bytes, dts_ms: int, nal_length_size: int = 4
) -> VideoConfig | MediaUnit | None:
    """An RTMP video message body -> config, unit, or None (nothing to deliver).

    ``nal_length_size`` comes from the last ``VideoConfig`` of the stream.
    """
    if not body:
        return None
    if body[0] & 0x80:
        return _enhanced_video(body, dts_ms, nal_length_size)
    return _legacy_video(body, dts_ms, nal_length_size)


def parse_audio(body: bytes, dts_ms: int) -> AudioConfig | MediaUnit | None:
    """An RTMP audio message body -> AAC config, AAC frame, or None (other formats)."""
    if not body or body[0] >> 4 != SOUND_AAC:
        return None
    if len(body) < 2:
        raise FlvError("AAC audio tag without AACPacketType")
    if body[1] == 0:
        return parse_audio_specific_config(body[2:], dts_ms)
    if body[1] == 1:
        return MediaUnit("audio", "aac", dts_ms, dts_ms, True, body[2:]) if len(body) > 2 else None
    raise FlvError(f"unknown AACPacketType {body[1]}")


# -- building -------------------------------------------------------------------


def _si24_bytes(value: int) -> bytes:
    if not -(1 << 23) <= value < (1 << 23):
        raise FlvError(f"composition time {value} does not fit 24 bits")
    return (value & 0xFFFFFF).to_bytes(3, "big")


def build_video_config(config: VideoConfig) -> bytes:
    """The sequence-start video tag body for ``config``."""
    if config.codec == "h264":
        return bytes([FrameType.KEY << 4 | CODEC_AVC, 0, 0, 0, 0]) + config.record
    return (
        bytes([0x80 | FrameType.KEY << 4 | ExPacketType.SEQUENCE_START]) + b"hvc1" + config.record
    )


def build_video(unit: MediaUnit) -> bytes:
    """The coded-frame video tag body for ``unit`` (legacy AVC, enhanced 'hvc1')."""
    frame = FrameType.KEY if unit.keyframe else FrameType.INTER
    cts = _si24_bytes(unit.pts_ms - unit.dts_ms)
    if unit.codec == "h264":
        return bytes([frame << 4 | CODEC_AVC, 1]) + cts + unit.payload
    fourcc = CODEC_FOURCC.get(unit.codec)
    if fourcc is None:
        raise FlvError(f"no FLV mapping for video codec {unit.codec!r}")
    return bytes([0x80 | frame << 4 | ExPacketType.CODED_FRAMES]) + fourcc + cts + unit.payload


AAC_HEADER = 0xAF  # AAC, 44 kHz, 16-bit, stereo: the fixed byte the FLV spec asks for


def build_audio_config(config: AudioConfig) -> bytes:
    return bytes([AAC_HEADER, 0]) + config.audio_specific_config


def build_audio(unit: MediaUnit) -> bytes:
    return bytes([AAC_HEADER, 1]) + unit.payload
