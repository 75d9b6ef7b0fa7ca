"""Every init, part and segment the segmenter writes, checked box by box, and by ffprobe.

The checker holds each part to what Chromium's and ffmpeg's MP4 parsers expect: one ``moof``
and one ``mdat``; increasing ``mfhd`` sequence numbers; each ``traf`` of a track of the init
segment, with at least one sample; ``trun`` data offsets that point at its own bytes in the
``mdat``, runs back to back and filling it; and per track a gapless timeline (each ``tfdt``
exactly where the previous ``trun`` ended: no overlap, no gap, never backwards).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

from media.hls.fmp4 import Box, parse_boxes, parse_tfdt, parse_trun
from media.hls.segmenter import Part, Segmenter
from media.units import CLOCK_RATE, StreamHeader
from tests.media.hls.sources import Source
from tests.media.hls.test_segmenter import AUDIO, VIDEO, feed, header

NOW = 1_700_000_000.0
FFPROBE_TIMEOUT = 60


def track_ids(init: bytes) -> set[int]:
    ftyp, moov = parse_boxes(init)
    assert ftyp.type == "ftyp" and moov.type == "moov"
    # tkhd version 0: version and flags, creation and modification times, then track_ID
    return {struct.unpack_from(">I", t.find("tkhd").payload, 12)[0] for t in moov.find_all("trak")}


def check_part(part: Part, tracks: set[int], ends: dict[int, int], sequence: int) -> int:
    """Check one part; ``ends`` holds each track's timeline end and is updated. Returns the
    part's ``mfhd`` sequence number, which must exceed ``sequence``."""
    boxes = parse_boxes(part.data)
    assert [b.type for b in boxes] == ["moof", "mdat"], part
    moof, mdat = boxes
    (number,) = struct.unpack_from(">I", moof.find("mfhd").payload, 4)
    assert number > sequence, part
    position = len(moof.serialize()) + 8
    trafs = moof.find_all("traf")
    assert trafs, f"{part}: a moof without traf"
    for traf in trafs:
        position = check_traf(part, traf, tracks, ends, position)
    assert position == len(moof.serialize()) + len(mdat.serialize()), f"{part}: mdat not filled"
    return int(number)


def check_traf(part: Part, traf: Box, tracks: set[int], ends: dict[int, int], at: int) -> int:
    (track_id,) = struct.unpack_from(">I", traf.find("tfhd").payload, 4)
    assert track_id in tracks, part
    base = parse_tfdt(traf.find("tfdt").payload)
    offset, samples = parse_trun(traf.find("trun").payload)
    assert samples, f"{part}: track {track_id} has an empty trun"
    assert offset == at, f"{part}: track {track_id} data offset {offset}, its data is at {at}"
    assert all(s.duration > 0 and s.size > 0 for s in samples), part
    if track_id in ends:
        assert base == ends[track_id], f"{part}: track {track_id} tfdt {base} != {ends[track_id]}"
    ends[track_id] = base + sum(s.duration for s in samples)
    return at + sum(s.size for s in samples)


def check_segmenter(segmenter: Segmenter) -> int:
    """Check every init, part and segment; returns the number of parts checked."""
    ends: dict[int, int] = {}
    sequence, count, init_id = 0, 0, None
    for segment in segmenter.segments:
        if segment.init_id != init_id or segment.discontinuity:
            ends, init_id = {}, segment.init_id  # a new timeline may start here
        tracks = track_ids(segmenter.inits[segment.init_id])
        assert segment.parts and segment.parts[0].independent, segment
        for part in segment.parts:
            sequence = check_part(part, tracks, ends, sequence)
            count += 1
        if segment.complete:
            assert segment.data == b"".join(p.data for p in segment.parts)
            assert segment.duration == sum(p.duration for p in segment.parts)
    return count


def push_all(segmenter: Segmenter, source: Source) -> None:
    segmenter.push(StreamHeader(1, source.tracks), NOW)
    for unit in source.units:
        segmenter.push(unit, NOW + unit.dts / CLOCK_RATE)


def test_synthetic_streams_pass_the_checker() -> None:
    for tracks, options in (
        ((VIDEO, AUDIO), {}),
        ((VIDEO, AUDIO), {"fps": 25, "gop": 2.0}),
        ((VIDEO,), {"audio": False}),
        ((AUDIO,), {"video": False}),
    ):
        segmenter = Segmenter()
        segmenter.push(header(tracks=tracks), NOW)
        feed(segmenter, 5.3, **options)  # type: ignore[arg-type]
        assert check_segmenter(segmenter) >= 20


def test_a_new_session_passes_the_checker() -> None:
    segmenter = Segmenter()
    segmenter.push(header(1), NOW)
    feed(segmenter, 2.1)
    segmenter.push(header(2), NOW + 10)
    feed(segmenter, 2.5, start=500_000)
    assert check_segmenter(segmenter) >= 20


def test_real_h264_aac_passes_the_checker(make_source: Callable[..., Source]) -> None:
    """FLV timestamps are whole milliseconds: AAC frames alternate 23 and 24 ms, so the last
    frame before a cut must not be given a guessed duration (it overlapped the next part)."""
    segmenter = Segmenter()
    push_all(segmenter, make_source("720p30-12s", seconds=12))
    assert check_segmenter(segmenter) >= 50


async def test_ffprobe_decodes_init_and_segments_without_an_error(
    av_720p30: Source, tmp_path: Path
) -> None:
    segmenter = Segmenter()
    push_all(segmenter, av_720p30)
    init = segmenter.latest_init()
    assert init is not None
    path = tmp_path / "stream.mp4"
    path.write_bytes(init + b"".join(s.data or b"" for s in segmenter.segments))
    args = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,nb_read_frames",
            "-count_frames", "-of", "csv=p=0", str(path)]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), FFPROBE_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0 and err.decode() == ""
    counts = dict(line.split(",") for line in out.decode().split())
    assert int(counts["h264"]) >= 90 and int(counts["aac"]) >= 120
