"""FLV tag bodies both ways: literal bytes, a real ffmpeg recording, every prefix, fuzzed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtest.flvfile import TAG_AUDIO, TAG_VIDEO, FlvFileReader, FlvTag, file_header
from media.rtmp import flv
from media.rtmp.errors import FlvError, ProtocolError
from media.rtmp.units import AudioConfig, MediaUnit, VideoConfig

H = bytes.fromhex
DATA = Path(__file__).parents[2] / "data" / "rtmp"
SPS = H("6764001fac")
PPS = H("68ee3c80")
AVC_RECORD = H("0164001fffe1 0005") + SPS + H("01 0004") + PPS
HEVC_RECORD = (
    H("01") + bytes(20) + H("0f 03")
    + H("a0 0001 0002 4001") + H("a1 0001 0002 4201") + H("a2 0001 0002 4401")
)  # fmt: skip
AVCC = H("00000002 419a 00000003 01 02 03")

VIDEO_VECTORS: list[tuple[bytes, int, object]] = [
    (H("1700000000") + AVC_RECORD, 0, VideoConfig("h264", AVC_RECORD, 4, (SPS,), (PPS,), (), 0)),
    (H("1701000000") + AVCC, 40, MediaUnit("video", "h264", 40, 40, True, AVCC)),
    (H("2701000050") + AVCC, 40, MediaUnit("video", "h264", 40, 120, False, AVCC)),
    (H("27 01 fffff6") + AVCC, 40, MediaUnit("video", "h264", 40, 30, False, AVCC)),
    (
        H("90") + b"hvc1" + HEVC_RECORD,
        0,
        VideoConfig("hevc", HEVC_RECORD, 4, (H("4201"),), (H("4401"),), (H("4001"),), 0),
    ),
    (H("91") + b"hvc1" + H("000014") + AVCC, 7, MediaUnit("video", "hevc", 7, 27, True, AVCC)),
]
AUDIO_VECTORS: list[tuple[bytes, int, object]] = [
    (H("af001210"), 0, AudioConfig("aac", H("1210"), 2, 44100, 2, 0)),
    (H("af001188"), 5, AudioConfig("aac", H("1188"), 2, 48000, 1, 5)),
    (H("af01") + b"\x21\x1b", 23, MediaUnit("audio", "aac", 23, 23, True, b"\x21\x1b")),
]


@pytest.mark.parametrize(("body", "ts", "event"), VIDEO_VECTORS)
def test_video_both_ways(body: bytes, ts: int, event: object) -> None:
    assert flv.parse_video(body, ts) == event
    if isinstance(event, VideoConfig):
        assert flv.build_video_config(event) == body
    else:
        assert isinstance(event, MediaUnit)
        assert flv.build_video(event) == body


@pytest.mark.parametrize(("body", "ts", "event"), AUDIO_VECTORS)
def test_audio_both_ways(body: bytes, ts: int, event: object) -> None:
    assert flv.parse_audio(body, ts) == event
    if isinstance(event, AudioConfig):
        assert flv.build_audio_config(event) == body
    else:
        assert isinstance(event, MediaUnit)
        assert flv.build_audio(event) == body


@pytest.mark.parametrize(("body", "ts", "event"), VIDEO_VECTORS + AUDIO_VECTORS)
def test_every_prefix_is_named_error_or_smaller(body: bytes, ts: int, event: object) -> None:
    parse = flv.parse_video if body[0] >> 4 != 10 else flv.parse_audio
    for cut in range(len(body)):
        try:
            got = parse(body[:cut], ts)
        except FlvError:
            continue
        assert got != event


def test_enhanced_coded_frames_x_and_skips() -> None:
    assert flv.parse_video(H("a3") + b"hvc1" + AVCC, 9) == MediaUnit(
        "video", "hevc", 9, 9, False, AVCC
    )
    assert flv.parse_video(H("17 02 000000"), 0) is None  # end of sequence
    assert flv.parse_video(H("92") + b"hvc1", 0) is None
    assert flv.parse_video(H("91") + b"av01" + AVCC, 0) is None  # codec we do not carry
    assert flv.parse_video(H("22") + b"xx", 0) is None  # Sorenson H.263
    assert flv.parse_audio(H("2f") + b"mp3", 0) is None


@pytest.mark.parametrize(
    "body",
    [
        H("17 01 000000 00000009 41"),  # NAL length overruns
        H("17 05 000000"),  # unknown AVCPacketType
        H("17 00 000000 02 64001f"),  # config version 2
        H("17 00 000000 01 64001f ff e0 00"),  # no SPS
        H("af 02"),  # unknown AACPacketType
        H("af 00 17 90"),  # sampling index 14 is reserved
        H("96") + b"hvc1",  # enhanced packet type 6 (multitrack) unsupported
    ],
)
def test_malformed(body: bytes) -> None:
    with pytest.raises(FlvError):
        (flv.parse_audio if body[0] >> 4 == 10 else flv.parse_video)(body, 0)


def test_escape_object_type_and_explicit_rate() -> None:
    # object type 31 escape -> 32 + 6 bits (here 42); explicit 24-bit rate 22222
    bits = (31 << 35) | (10 << 29) | (0xF << 25) | (22222 << 1)
    asc = bits.to_bytes(5, "big") + b"\x00"
    config = flv.parse_audio_specific_config(asc)
    assert (config.object_type, config.sample_rate) == (42, 22222)


def load_sample() -> list[FlvTag]:
    return FlvFileReader().feed((DATA / "h264_aac_1s.flv").read_bytes())


def test_ffmpeg_recording_bytewise_equals_whole() -> None:
    raw = (DATA / "h264_aac_1s.flv").read_bytes()
    reader = FlvFileReader()
    tags: list[FlvTag] = []
    for i in range(len(raw)):
        tags += reader.feed(raw[i : i + 1])
    assert tags == load_sample()
    assert file_header(True, True) + b"".join(t.serialize() for t in tags) == raw[:13] + raw[13:]


def test_ffmpeg_recording_parses_and_rebuilds_exactly() -> None:
    tags = load_sample()
    video = [flv.parse_video(t.body, t.timestamp) for t in tags if t.tag_type == TAG_VIDEO]
    audio = [flv.parse_audio(t.body, t.timestamp) for t in tags if t.tag_type == TAG_AUDIO]
    config = video[0]
    assert isinstance(config, VideoConfig) and config.codec == "h264"
    assert config.sps[0][0] & 0x1F == 7 and config.pps[0][0] & 0x1F == 8
    assert config.sps[0][1] == 100  # High profile
    units = [v for v in video if isinstance(v, MediaUnit)]
    assert len(units) == 30 and units[0].keyframe
    assert sum(u.keyframe for u in units) == 2
    assert any(u.pts_ms > u.dts_ms for u in units)  # B-frames
    assert [u.dts_ms for u in units] == sorted(u.dts_ms for u in units)
    aconf = audio[0]
    assert isinstance(aconf, AudioConfig) and (aconf.sample_rate, aconf.channels) == (44100, 1)
    for tag in tags:
        if tag.tag_type == TAG_VIDEO:
            ev = flv.parse_video(tag.body, tag.timestamp)
            if isinstance(ev, VideoConfig):
                assert flv.build_video_config(ev) == tag.body
            elif isinstance(ev, MediaUnit):
                assert flv.build_video(ev) == tag.body
        elif tag.tag_type == TAG_AUDIO:
            aev = flv.parse_audio(tag.body, tag.timestamp)
            if isinstance(aev, AudioConfig):
                assert flv.build_audio_config(aev) == tag.body
            elif isinstance(aev, MediaUnit):
                assert flv.build_audio(aev) == tag.body


def test_flv_file_errors() -> None:
    with pytest.raises(FlvError):
        FlvFileReader().feed(b"GIF89a")
    with pytest.raises(FlvError):
        FlvFileReader().feed(file_header() + H("09 ffffff 000000 00 000000"))  # 16 MiB tag
    with pytest.raises(FlvError):
        FlvFileReader().feed(file_header() + H("29 000001 000000 00 000000"))  # encrypted


seeds = [t.body for t in load_sample()[:8]]


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=120),
        st.sampled_from(seeds).flatmap(
            lambda s: st.binary(max_size=8).map(lambda b: b + s[len(b) :][:150])  # noqa: E203
        ),
    ),
    st.integers(0, 0xFFFFFFFF),
)
def test_fuzz_tag_parsers(body: bytes, ts: int) -> None:
    """Any body gives a config, a unit, nothing, or a ProtocolError; anything else fails."""
    for parse in (flv.parse_video, flv.parse_audio):
        try:
            out = parse(body, ts)
        except ProtocolError:
            continue
        assert out is None or isinstance(out, VideoConfig | AudioConfig | MediaUnit)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_file_reader(data: bytes) -> None:
    """Any bytes after a header give whole tags within the limits, or a ProtocolError."""
    try:
        tags = FlvFileReader().feed(file_header() + data)
    except ProtocolError:
        return
    assert sum(11 + len(t.body) + 4 for t in tags) <= len(data)
    assert all(0 <= t.tag_type <= 0x1F and len(t.body) <= FlvFileReader().limits.message_limit(t.tag_type) for t in tags)
