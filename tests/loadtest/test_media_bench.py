"""The media benchmarks' own pieces: the timecode survives H.264, the LL-HLS playlist parser."""

from __future__ import annotations

import av

from loadtest.media_llhls import parse_playlist
from loadtest.media_publisher import TimecodeEncoder
from loadtest.media_timecode import read_stamp
from media.rtmp.units import MediaUnit, VideoConfig

PLAYLIST = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-MAP:URI="p-init-0.mp4"
#EXT-X-PART:DURATION=0.20000,URI="p-part-7-0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="p-part-7-1.m4s"
#EXTINF:0.40000,
p-seg-7.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="p-init-1.mp4"
#EXT-X-PART:DURATION=0.20000,URI="p-part-8-0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p-part-8-1.m4s"
"""


def test_parse_playlist_numbers_parts_and_follows_maps() -> None:
    playlist = parse_playlist(PLAYLIST)
    assert [(p.msn, p.index, p.independent, p.map_uri) for p in playlist.parts] == [
        (7, 0, True, "p-init-0.mp4"), (7, 1, False, "p-init-0.mp4"), (8, 0, True, "p-init-1.mp4")]
    assert playlist.preload_hint == "p-part-8-1.m4s"
    assert (playlist.media_sequence, playlist.discontinuities) == (7, 1)


def test_timecode_survives_h264() -> None:
    encoder = TimecodeEncoder(1280, 720, 30, 1_000_000, 1.0)
    stamps = [1_790_000_000_000 + 33 * i + (i % 2) * (1 << 47) for i in range(10)]
    units = [u for stamp in stamps for u in encoder.encode(stamp)]
    units += [u for p in encoder.codec.encode(None) for u in encoder._units(p)]
    config = next(u for u in units if isinstance(u, VideoConfig))
    media = [u for u in units if isinstance(u, MediaUnit)]
    assert media[0].keyframe and len(media) == len(stamps)
    decoder = av.CodecContext.create("h264", "r")
    decoder.extradata = config.record
    decoded = [read_stamp(memoryview(f.planes[0]), f.planes[0].line_size)
               for u in media for f in decoder.decode(av.Packet(u.payload))]
    decoded += [read_stamp(memoryview(f.planes[0]), f.planes[0].line_size) for f in decoder.decode(None)]
    assert decoded == stamps
