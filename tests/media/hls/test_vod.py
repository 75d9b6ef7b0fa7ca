"""Recorded playlists against literal text, both ways, and at every truncated prefix."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.hls.vod import VodParseError, VodPlaylist, VodSegment, parse

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z

EVENT = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-TARGETDURATION:5
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init-0.mp4"
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z
#EXTINF:4.00000,
seg-0.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:30.500Z
#EXTINF:4.03300,
seg-1.m4s
"""


def playlist() -> VodPlaylist:
    return (
        VodPlaylist()
        .append(VodSegment("seg-0.m4s", 4.0, T0, map_uri="init-0.mp4"))
        .append(VodSegment("seg-1.m4s", 4.033, T0 + 10.5, discontinuity=True, map_uri="init-1.mp4"))
    )


def test_render_event_literal() -> None:
    assert playlist().render() == EVENT


def test_closed_is_vod_with_endlist() -> None:
    text = playlist().closed().render()
    assert "#EXT-X-PLAYLIST-TYPE:VOD\n" in text and text.endswith("seg-1.m4s\n#EXT-X-ENDLIST\n")


def test_parse_reads_back_what_render_writes() -> None:
    for value in (playlist(), playlist().closed(), VodPlaylist()):
        assert parse(value.render()) == value


def test_every_truncated_prefix_parses_to_whole_segments_only() -> None:
    for cut in range(len("#EXTM3U"), len(EVENT)):
        parsed = parse(EVENT[:cut])
        assert parsed.segments == playlist().segments[: len(parsed.segments)]
        assert not parsed.ended


def test_garbage_is_refused_with_the_reason() -> None:
    with pytest.raises(VodParseError, match="not an M3U"):
        parse("hello\n")
    with pytest.raises(VodParseError, match="has no EXTINF"):
        parse("#EXTM3U\nseg-0.m4s\n")
    with pytest.raises(VodParseError, match="bad duration"):
        parse("#EXTM3U\n#EXTINF:nan,\nseg-0.m4s\n")


def test_position_at_maps_wall_time_through_the_gap() -> None:
    value = playlist()
    assert value.position_at(T0 + 1.5) == 1.5
    assert value.position_at(T0 + 6) == 4.0  # the publisher was away: the next segment's start
    assert value.position_at(T0 + 11.5) == pytest.approx(5.0)
    assert value.position_at(T0 + 60) is None
    assert value.duration == pytest.approx(8.033) and value.discontinuities == 1


def test_clip_keeps_whole_segments_and_the_map() -> None:
    clip = playlist().clip(4.5, 6.0)
    assert clip.ended and [s.uri for s in clip.segments] == ["seg-1.m4s"]
    assert clip.segments[0].map_uri == "init-1.mp4" and not clip.segments[0].discontinuity
    three = playlist().append(VodSegment("seg-2.m4s", 4.0, T0 + 14.6))
    assert three.clip(9.0, 10.0).segments[0].map_uri == "init-1.mp4"


@given(st.text(max_size=300))
def test_fuzz_parse_gives_a_playlist_or_the_parse_error(text: str) -> None:
    try:
        parsed = parse("#EXTM3U\n" + text)
    except VodParseError:
        return
    assert all(s.duration >= 0 for s in parsed.segments)
