"""Hub units to FLV tags: metadata and sequence headers first, keyframe start, continuous time."""

from __future__ import annotations

from pathlib import Path

from loadtest.flvfile import FlvFileReader
from media.rtmp import flv
from media.rtmp.from_hub import GAP_MS, FlvRemuxer
from media.rtmp.units import AudioConfig, MediaUnit, Metadata, VideoConfig
from media.units import StreamHeader, Track, TrackKind, Unit

DATA = Path(__file__).parents[2] / "data" / "rtmp" / "h264_aac_1s.flv"


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


def _ms(out: list[object]) -> int:
    (unit,) = out
    assert isinstance(unit, MediaUnit)
    return unit.dts_ms


def test_header_gives_metadata_then_sequence_headers() -> None:
    video, audio = _tracks()
    meta, vconf, aconf = FlvRemuxer().feed(StreamHeader(1, (video, audio)))
    assert isinstance(meta, Metadata) and isinstance(vconf, VideoConfig) and isinstance(aconf, AudioConfig)
    assert meta.values["width"] == video.width and meta.values["videocodecid"] == 7
    assert meta.values["audiocodecid"] == 10 and meta.values["audiosamplerate"] == audio.sample_rate
    assert vconf.record == video.config and vconf.codec == "h264"
    assert aconf.audio_specific_config == audio.config


def test_starts_on_a_keyframe_and_rebases_time() -> None:
    video, audio = _tracks()
    remux = FlvRemuxer()
    remux.feed(StreamHeader(1, (video, audio)))
    assert remux.feed(_a(5000)) == [] and remux.feed(_v(5000)) == []
    (key,) = remux.feed(_v(5033, key=True, cts_ms=66))
    assert isinstance(key, MediaUnit) and key.keyframe and (key.dts_ms, key.pts_ms) == (0, 66)
    assert remux.feed(_a(5020)) == []  # before the start: dropped, never negative
    (audio_unit,) = remux.feed(_a(5040))
    assert isinstance(audio_unit, MediaUnit) and audio_unit.track == "audio" and audio_unit.dts_ms == 7
    (inter,) = remux.feed(_v(5066))
    assert isinstance(inter, MediaUnit) and not inter.keyframe and inter.dts_ms == 33
    assert remux.skipped == 3


def test_new_publisher_session_continues_the_timeline() -> None:
    video, audio = _tracks()
    remux = FlvRemuxer()
    remux.feed(StreamHeader(1, (video, audio)))
    remux.feed(_v(1000, key=True))
    last = _ms(remux.feed(_v(1500)))
    assert last == 500
    assert remux.feed(StreamHeader(2, (video, audio))) == []  # same configs: nothing to resend
    assert remux.feed(_v(0)) == []  # wait for a keyframe of the new session
    first = _ms(remux.feed(_v(33, key=True)))
    assert first == last + GAP_MS
    assert _ms(remux.feed(_a(66))) == first + 33


def test_opus_and_unknown_tracks_are_skipped() -> None:
    video, _ = _tracks()
    opus = Track.opus(3, b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
    remux = FlvRemuxer()
    out = remux.feed(StreamHeader(1, (video, opus)))
    assert [type(o) for o in out] == [Metadata, VideoConfig]
    assert remux.feed(Unit(3, TrackKind.AUDIO, 0, 0, True, b"\xfc")) == []
    assert remux.skipped == 1


def test_audio_only_needs_no_keyframe() -> None:
    _, audio = _tracks()
    remux = FlvRemuxer()
    assert [type(o) for o in remux.feed(StreamHeader(1, (audio,)))] == [Metadata, AudioConfig]
    assert _ms(remux.feed(_a(100))) == 0
