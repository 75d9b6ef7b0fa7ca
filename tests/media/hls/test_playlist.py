"""Playlist rendering against literal text."""

from __future__ import annotations

from media.hls.playlist import MediaPlaylist, PartEntry, SegmentEntry, format_date_time

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z

EXPECTED = """\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.63000
#EXT-X-PART-INF:PART-TARGET=0.21000
#EXT-X-MEDIA-SEQUENCE:41
#EXT-X-DISCONTINUITY-SEQUENCE:2
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="x-init-3.mp4"
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z
#EXTINF:1.00000,
x-seg-41.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="x-init-4.mp4"
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:25.250Z
#EXT-X-PART:DURATION=0.20000,URI="x-part-42-0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.13333,URI="x-part-42-1.m4s"
#EXTINF:0.33333,
x-seg-42.m4s
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:25.583Z
#EXT-X-PART:DURATION=0.20000,URI="x-part-43-0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="x-part-43-1.m4s"
"""


def playlist() -> MediaPlaylist:
    return MediaPlaylist(
        target_duration=1,
        part_target=0.21,
        media_sequence=41,
        discontinuity_sequence=2,
        segments=(
            SegmentEntry(41, "x-seg-41.m4s", 1.0, map_uri="x-init-3.mp4", program_date_time=T0),
            SegmentEntry(
                42,
                "x-seg-42.m4s",
                1 / 3,
                parts=(
                    PartEntry("x-part-42-0.m4s", 0.2, True),
                    PartEntry("x-part-42-1.m4s", 2 / 15, False),
                ),
                discontinuity=True,
                map_uri="x-init-4.mp4",
                program_date_time=T0 + 5.25,
            ),
            SegmentEntry(
                43,
                "x-seg-43.m4s",
                0.0,
                parts=(PartEntry("x-part-43-0.m4s", 0.2, True),),
                complete=False,
                program_date_time=T0 + 5.25 + 1 / 3,
            ),
        ),
        preload_hint="x-part-43-1.m4s",
    )


def test_render_literal() -> None:
    assert playlist().render() == EXPECTED


def test_ended_playlist_has_endlist_and_no_hint() -> None:
    text = MediaPlaylist(1, 0.21, 0, 0, playlist().segments[:1], "hint", ended=True).render()
    assert text.endswith("x-seg-41.m4s\n#EXT-X-ENDLIST\n") and "PRELOAD-HINT" not in text


def test_program_date_time_format() -> None:
    assert format_date_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert format_date_time(T0 + 0.9999) == "2023-11-14T22:13:20.999Z"
