"""Hub units to FLV tags: metadata and sequence headers first, keyframe start, continuous time."""

from __future__ import annotations

from pathlib import Path

from media.rtmp import amf0, flv
from media.rtmp.flvfile import FlvFileReader
from media.units import StreamHeader, Track, TrackKind, Unit
from relay.remux import GAP_MS, FlvRemuxer

DATA = Path(__file__).parents[1] / "data" / "rtmp" / "h264_aac_1s.flv"


def _tracks() -> tuple[Track, Track]:
    video = audio = None
    for tag in FlvFileReader().feed(DATA.read_bytes()):
        if tag.tag_type == 9 and video is None:
            config = flv.parse_video(tag.body, 0)
            assert config is not None and not hasattr(config, "payload")
            video = Track.h264(1, config.record)  # type: ignore[union-attr]
        if tag.tag_type == 8 and audio is None:
            config_a = flv.parse_audio(tag.body, 0)
            audio = Track.aac(2, config_a.audio_specific_config)  # type: ignore[union-attr]
    assert video is not None and audio is not None
    return video, audio


def _v(dts_ms: int, key: bool = False, cts_ms: int = 0) -> Unit:
    return Unit(1, TrackKind.VIDEO, dts_ms * 90, (dts_ms + cts_ms) * 90, key, b"\x00\x00\x00\x02\x65\x88")


def _a(dts_ms: int) -> Unit:
    return Unit(2, TrackKind.AUDIO, dts_ms * 90, dts_ms * 90, True, b"\x21\x10")


def test_header_gives_metadata_then_sequence_headers() -> None:
    video, audio = _tracks()
    tags = FlvRemuxer().feed(StreamHeader(1, (video, audio)))
    assert [t.type_id for t in tags] == [18, 9, 8]
    name, event, meta = amf0.decode_all(tags[0].body)
    assert (name, event) == ("@setDataFrame", "onMetaData")
    assert meta["width"] == video.width and meta["videocodecid"] == 7 and meta["audiocodecid"] == 10
    assert tags[1].body[:2] == b"\x17\x00" and tags[1].body[5:] == video.config
    assert tags[2].body[:2] == b"\xaf\x00" and tags[2].body[2:] == audio.config


def test_starts_on_a_keyframe_and_rebases_time() -> None:
    video, audio = _tracks()
    remux = FlvRemuxer()
    remux.feed(StreamHeader(1, (video, audio)))
    assert remux.feed(_a(5000)) == [] and remux.feed(_v(5000)) == []
    key = remux.feed(_v(5033, key=True, cts_ms=66))
    assert key[0].timestamp == 0 and key[0].body[:2] == b"\x17\x01"
    assert int.from_bytes(key[0].body[2:5], "big") == 66
    assert remux.feed(_a(5020)) == []  # before the start: dropped, never negative
    assert remux.feed(_a(5040))[0].timestamp == 7
    assert remux.feed(_v(5066))[0].body[:2] == b"\x27\x01"
    assert remux.skipped == 3


def test_new_publisher_session_continues_the_timeline() -> None:
    video, audio = _tracks()
    remux = FlvRemuxer()
    remux.feed(StreamHeader(1, (video, audio)))
    remux.feed(_v(1000, key=True))
    last = remux.feed(_v(1500))[0].timestamp
    assert last == 500
    assert remux.feed(StreamHeader(2, (video, audio))) == []  # same configs: nothing to resend
    assert remux.feed(_v(0)) == []  # wait for a keyframe of the new session
    first = remux.feed(_v(33, key=True))[0].timestamp
    assert first == last + GAP_MS
    assert remux.feed(_a(66))[0].timestamp == first + 33


def test_opus_and_unknown_tracks_are_skipped() -> None:
    video, _ = _tracks()
    opus = Track.opus(3, b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
    remux = FlvRemuxer()
    tags = remux.feed(StreamHeader(1, (video, opus)))
    assert [t.type_id for t in tags] == [18, 9]
    assert remux.feed(Unit(3, TrackKind.AUDIO, 0, 0, True, b"\xfc")) == []
    assert remux.skipped == 1


def test_audio_only_needs_no_keyframe() -> None:
    _, audio = _tracks()
    remux = FlvRemuxer()
    assert [t.type_id for t in remux.feed(StreamHeader(1, (audio,)))] == [18, 8]
    assert remux.feed(_a(100))[0].timestamp == 0
