"""Codec configuration parsing: SPS, avcC, AudioSpecificConfig, OpusHead (literal bytes)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.audio import AacConfig, OpusHead
from media.errors import CodecConfigError
from media.h264 import AvcDecoderConfig, parse_sps, split_avcc, unescape_rbsp
from media.units import Codec, Track, TrackKind

# Captured from ffmpeg/libx264 (FLV sequence headers) and libopus (Ogg).
AVCC_720P_HIGH = bytes.fromhex(
    "0164001fffe1001a6764001facd9405005bb0110000003001000000303c0f183196001000668ebe3cb22c0fdf8f800"
)
AVCC_1080P_HIGH = bytes.fromhex(
    "0164002affe1001b6764002aacd940780227e5c044000003000400000301e03c60c65801000468ef8fcbfdf8f800"
)
AVCC_240P_BASELINE = bytes.fromhex(
    "0142c00dffe100186742c00dd90141fb0110000003001000000303c0f142a48001000568cb83cb20"
)
OPUS_HEAD = bytes.fromhex("4f707573486561640102380180bb0000000000")


@pytest.mark.parametrize(
    ("record", "profile", "level", "size", "codec"),
    [
        (AVCC_720P_HIGH, 100, 31, (1280, 720), "avc1.64001f"),
        (AVCC_1080P_HIGH, 100, 42, (1920, 1080), "avc1.64002a"),  # 1088 coded, cropped
        (AVCC_240P_BASELINE, 66, 13, (320, 240), "avc1.42c00d"),
    ],
)
def test_avcc_and_sps(
    record: bytes, profile: int, level: int, size: tuple[int, int], codec: str
) -> None:
    config = AvcDecoderConfig.parse(record)
    assert (config.profile_idc, config.level_idc, config.length_size) == (profile, level, 4)
    assert config.serialize() == record
    assert config.codec_string == codec
    sps = parse_sps(config.sps[0])
    assert (sps.width, sps.height) == size
    track = Track.h264(1, record)
    assert (track.kind, track.codec, track.width, track.height) == (
        TrackKind.VIDEO,
        Codec.H264,
        *size,
    )
    rebuilt = AvcDecoderConfig.from_parameter_sets(config.sps[0], config.pps[0])
    assert rebuilt.serialize() == record[: len(rebuilt.serialize())]


def test_avcc_every_truncated_prefix_is_a_named_error() -> None:
    config = AvcDecoderConfig.parse(AVCC_240P_BASELINE)
    end_of_pps = len(AVCC_240P_BASELINE)
    for cut in range(end_of_pps):
        with pytest.raises(CodecConfigError):
            AvcDecoderConfig.parse(AVCC_240P_BASELINE[:cut])
    assert config.trailer == b""


def test_sps_truncated_is_a_named_error() -> None:
    sps = AvcDecoderConfig.parse(AVCC_720P_HIGH).sps[0]
    for cut in range(10):  # the picture size ends in byte 10; VUI fields after it are not read
        with pytest.raises(CodecConfigError):
            parse_sps(sps[:cut])


@given(st.binary(max_size=64))
def test_avcc_parser_never_raises_anything_else(data: bytes) -> None:
    try:
        config = AvcDecoderConfig.parse(data)
    except CodecConfigError:
        return
    assert config.serialize() == data


@given(st.binary(max_size=40))
def test_sps_parser_never_raises_anything_else(data: bytes) -> None:
    try:
        parse_sps(b"\x67" + data)
    except CodecConfigError:
        pass


def test_unescape_rbsp() -> None:
    assert unescape_rbsp(bytes.fromhex("0000030100000302")) == bytes.fromhex("000001000002")
    assert unescape_rbsp(b"\x01\x02") == b"\x01\x02"


def test_split_avcc() -> None:
    assert split_avcc(b"\x00\x00\x00\x02ab\x00\x00\x00\x01c") == [b"ab", b"c"]
    with pytest.raises(CodecConfigError):
        split_avcc(b"\x00\x00\x00\x05ab")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (bytes.fromhex("1208"), AacConfig(2, 44100, 1)),  # AAC-LC 44.1 kHz mono
        (bytes.fromhex("1190"), AacConfig(2, 48000, 2)),  # AAC-LC 48 kHz stereo
        (bytes.fromhex("2b8a0800"), AacConfig(5, 22050, 1)),  # HE-AAC (SBR) signalled
        (bytes.fromhex("fbfe02ee0040"), AacConfig(63, 96000, 2)),  # escape + explicit rate
    ],
)
def test_audio_specific_config(config: bytes, expected: AacConfig) -> None:
    parsed = AacConfig.parse(config)
    assert (parsed.object_type, parsed.sample_rate) == (expected.object_type, expected.sample_rate)
    if expected.object_type == 2:
        assert parsed == expected and parsed.codec_string == "mp4a.40.2"


def test_audio_specific_config_errors() -> None:
    for bad in (b"", b"\x12", bytes.fromhex("17f8"), bytes.fromhex("0008")):
        with pytest.raises(CodecConfigError):
            AacConfig.parse(bad)


def test_opus_head() -> None:
    head = OpusHead.parse(OPUS_HEAD)
    assert (head.channels, head.pre_skip, head.input_sample_rate, head.mapping_family) == (
        2, 312, 48000, 0,
    )  # fmt: skip
    track = Track.opus(2, OPUS_HEAD)
    assert (track.sample_rate, track.channels, track.codec_string) == (48000, 2, "opus")
    for cut in range(19):
        with pytest.raises(CodecConfigError):
            OpusHead.parse(OPUS_HEAD[:cut])
