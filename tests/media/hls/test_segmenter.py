"""The segmenter on synthetic units: cuts, parts, window, discontinuities, waiting rules."""

from __future__ import annotations

from media.hls.fmp4 import parse_boxes, parse_tfdt, parse_trun
from media.hls.segmenter import Segmenter, SegmenterConfig
from media.units import CLOCK_RATE, StreamHeader, Track, TrackKind, Unit
from tests.media.test_hub_codecs import AVCC_720P_HIGH

VIDEO = Track.h264(1, AVCC_720P_HIGH)
AUDIO = Track.aac(2, bytes.fromhex("1208"))
AAC_FRAME = 1024 * CLOCK_RATE / 44100
NOW = 1_700_000_000.0


def feed(
    segmenter: Segmenter,
    seconds: float,
    *,
    fps: int = 30,
    gop: float = 1.0,
    audio: bool = True,
    start: int = 0,
    video: bool = True,
) -> None:
    """Interleave video frames and AAC frames in dts order, like an RTMP publisher."""
    options = dict(fps=fps, gop=gop, audio=audio, start=start, video=video)
    for unit in interleaved(seconds, **options):  # type: ignore[arg-type]
        segmenter.push(unit, NOW + unit.dts / CLOCK_RATE)


def interleaved(
    seconds: float, *, fps: int, gop: float, audio: bool, start: int, video: bool
) -> list[Unit]:
    frame = CLOCK_RATE // fps
    units = []
    if video:
        per_gop = round(gop * fps)
        for n in range(int(seconds * fps)):
            dts = start + n * frame
            units.append(
                Unit(1, TrackKind.VIDEO, dts, dts + 2 * frame, n % per_gop == 0, b"v" * 50)
            )
    if audio:
        for n in range(int(seconds * CLOCK_RATE / AAC_FRAME)):
            dts = start + round(n * AAC_FRAME)
            units.append(Unit(2, TrackKind.AUDIO, dts, dts, True, b"a" * 10))
    return sorted(units, key=lambda u: u.dts)


def header(session: int = 1, tracks: tuple[Track, ...] = (VIDEO, AUDIO)) -> StreamHeader:
    return StreamHeader(session, tracks)


def test_one_second_gop_gives_one_second_segments_of_five_parts() -> None:
    segmenter = Segmenter()
    segmenter.push(header(), NOW)
    feed(segmenter, 3.5)
    complete = [s for s in segmenter.segments if s.complete]
    assert [s.duration for s in complete] == [CLOCK_RATE] * 3
    for segment in complete:
        assert [p.duration for p in segment.parts] == [CLOCK_RATE // 5] * 5
        assert [p.independent for p in segment.parts] == [True, False, False, False, False]
        assert segment.data == b"".join(p.data for p in segment.parts)
    assert segmenter.target_duration == 1
    assert complete[1].program_date_time == NOW + 1


def test_parts_carry_both_tracks_with_their_own_timescales() -> None:
    segmenter = Segmenter()
    segmenter.push(header(), NOW)
    feed(segmenter, 1.5)
    part = segmenter.part(0, 1)
    assert part is not None
    moof, mdat = parse_boxes(part.data)
    video_traf, audio_traf = moof.find_all("traf")
    assert parse_tfdt(video_traf.find("tfdt").payload) == 18000  # 0.2 s at 90 kHz
    _, video_samples = parse_trun(video_traf.find("trun").payload)
    assert [s.duration for s in video_samples] == [3000] * 6
    assert all(s.composition_offset == 6000 for s in video_samples)
    audio_start = parse_tfdt(audio_traf.find("tfdt").payload)
    # 44.1 kHz timescale; the last frame before the cut waited here for its successor
    assert 0.2 * 44100 - 1024 <= audio_start < 0.2 * 44100
    _, audio_samples = parse_trun(audio_traf.find("trun").payload)
    assert all(s.keyframe and s.duration in (1023, 1024, 1025) for s in audio_samples)
    assert len(mdat.payload) == 6 * 50 + 10 * len(audio_samples)


def test_long_gop_makes_the_segment_the_gop() -> None:
    segmenter = Segmenter()
    segmenter.push(header(), NOW)
    feed(segmenter, 6.5, gop=2.0)
    complete = [s for s in segmenter.segments if s.complete]
    assert [s.duration for s in complete] == [2 * CLOCK_RATE] * 3
    assert segmenter.target_duration == 2
    assert all(p.duration <= 0.21 * CLOCK_RATE for s in complete for p in s.parts)


def test_short_gop_joins_gops_into_one_second_segments() -> None:
    segmenter = Segmenter()
    segmenter.push(header(), NOW)
    feed(segmenter, 2.5, gop=0.5)
    assert [s.duration for s in segmenter.segments if s.complete] == [CLOCK_RATE] * 2


def test_parts_stay_between_85_percent_and_the_part_target() -> None:
    for fps in (60, 50, 25, 24):
        segmenter = Segmenter()
        segmenter.push(header(), NOW)
        feed(segmenter, 3.2, fps=fps)
        for segment in segmenter.segments:
            assert all(p.duration <= 0.21 * CLOCK_RATE for p in segment.parts)
            # the last part of a segment may be shorter (RFC 8216bis section 4.4.4.9)
            assert all(p.duration >= 0.85 * 0.2 * CLOCK_RATE for p in segment.parts[:-1])


def test_audio_only() -> None:
    segmenter = Segmenter()
    segmenter.push(header(tracks=(AUDIO,)), NOW)
    feed(segmenter, 3.2, video=False)
    complete = [s for s in segmenter.segments if s.complete]
    assert len(complete) >= 2
    for segment in complete:
        assert 0.9 * CLOCK_RATE <= segment.duration <= 1.1 * CLOCK_RATE
        assert all(p.independent and p.duration <= 0.21 * CLOCK_RATE for p in segment.parts)


def test_window_is_bounded_and_media_sequence_slides() -> None:
    config = SegmenterConfig(window=4, keep_extra=2)
    segmenter = Segmenter(config)
    segmenter.push(header(), NOW)
    feed(segmenter, 20.5)
    assert len(segmenter.segments) == 4 + 2 + 1
    playlist = segmenter.playlist()
    assert playlist is not None
    assert playlist.media_sequence == 16 and [s.msn for s in playlist.segments] == [
        16,
        17,
        18,
        19,
        20,
    ]
    assert playlist.segments[0].map_uri == "init-0.mp4"
    assert segmenter.segment(13) is None and segmenter.segment(14) is not None


def test_new_session_is_a_discontinuity_on_one_timeline() -> None:
    segmenter = Segmenter(SegmenterConfig(window=3, keep_extra=0), prefix="p-")
    segmenter.push(header(1), NOW)
    feed(segmenter, 2.1)
    segmenter.push(header(2), NOW + 10)
    feed(segmenter, 2.5, start=500_000)  # the new publisher's clock starts anywhere
    segments = list(segmenter.segments)
    boundary = next(s for s in segments if s.discontinuity)
    before = segments[segments.index(boundary) - 1]
    assert boundary.start == before.start + before.duration
    assert boundary.init_id == before.init_id + 1 and set(segmenter.inits) >= {0, 1}
    assert boundary.program_date_time == NOW + 500_000 / CLOCK_RATE  # wall time of its keyframe
    first_video = parse_boxes(boundary.parts[0].data)[0].find("traf/tfdt")
    assert parse_tfdt(first_video.payload) == boundary.start
    text = segmenter.playlist().render()  # type: ignore[union-attr]
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert '#EXT-X-MAP:URI="p-init-1.mp4"' in text
    feed(segmenter, 4, start=500_000 + int(2.5 * CLOCK_RATE))  # the discontinuity slides out
    playlist = segmenter.playlist()
    assert playlist is not None and playlist.discontinuity_sequence == 1
    assert "#EXT-X-DISCONTINUITY\n" not in playlist.render()
    assert set(segmenter.inits) == {1}


def test_same_session_header_with_same_tracks_changes_nothing() -> None:
    segmenter = Segmenter()
    segmenter.push(header(), NOW)
    feed(segmenter, 1.5)
    before = [(s.msn, len(s.parts)) for s in segmenter.segments]
    assert not segmenter.push(header(), NOW)
    assert [(s.msn, len(s.parts)) for s in segmenter.segments] == before


def test_waiting_rules() -> None:
    segmenter = Segmenter()
    segmenter.push(header(), NOW)
    assert segmenter.playlist() is None and segmenter.position() is None
    feed(segmenter, 1.5)
    assert segmenter.position() == (1, 1)
    assert segmenter.has(0, None) and not segmenter.has(1, None)
    assert segmenter.has(1, 1) and not segmenter.has(1, 2)
    assert segmenter.has(0, 7)  # beyond the last part of segment 0 but segment 1 has parts
    assert segmenter.part_settled(0, 9) and segmenter.part_settled(1, 0)
    assert not segmenter.part_settled(1, 2)
    assert segmenter.playlist() is None  # one complete segment: see the startup rule


def test_playlist_waits_for_three_complete_segments() -> None:
    """Regression: a playlist of one or two segments made Chromium's native HLS player fail
    with DEMUXER_ERROR_COULD_NOT_PARSE when it opened a stream that had just started."""
    segmenter = Segmenter()
    segmenter.push(header(), NOW)
    published = None
    for unit in interleaved(3.5, fps=30, gop=1.0, audio=True, start=0, video=True):
        segmenter.push(unit, NOW + unit.dts / CLOCK_RATE)
        if published is None and segmenter.playlist() is not None:
            published = unit
    assert published is not None
    assert (published.kind, published.dts, published.keyframe) == ("video", 3 * CLOCK_RATE, True)
    playlist = segmenter.playlist()
    assert playlist is not None
    assert [(s.msn, s.complete) for s in playlist.segments] == [
        (0, True), (1, True), (2, True), (3, False)
    ]  # fmt: skip
    assert playlist.preload_hint == "part-3-2.m4s"
    config = SegmenterConfig(startup_segments=1)
    early = Segmenter(config)
    early.push(header(), NOW)
    feed(early, 1.5)
    assert early.playlist() is not None


def test_units_before_the_first_keyframe_and_backwards_dts_are_dropped() -> None:
    segmenter = Segmenter()
    segmenter.push(header(), NOW)
    segmenter.push(Unit(2, TrackKind.AUDIO, 0, 0, True, b"a"), NOW)
    segmenter.push(Unit(1, TrackKind.VIDEO, 0, 0, False, b"v"), NOW)
    assert segmenter.current is None
    segmenter.push(Unit(1, TrackKind.VIDEO, 3000, 3000, True, b"v"), NOW)
    segmenter.push(Unit(1, TrackKind.VIDEO, 3000, 3000, False, b"x"), NOW)  # same dts
    segmenter.push(Unit(9, TrackKind.VIDEO, 6000, 6000, False, b"x"), NOW)  # unknown track
    assert segmenter.current is not None and segmenter.current.parts == []
