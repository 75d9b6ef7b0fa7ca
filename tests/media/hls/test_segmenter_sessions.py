"""Segmenter rules across publisher sessions and the cached playlist text.

A publisher cut off mid-GOP with B-frames leaves pictures presented ahead of their decode
time; the next session must be presented after all of them (found end to end by
tests/server/test_live_media.py, where ffprobe saw a repeated pts across the discontinuity).
"""

from __future__ import annotations

from media.hls.fmp4 import parse_boxes, parse_tfdt, parse_trun
from media.hls.segmenter import Segmenter
from media.units import CLOCK_RATE, StreamHeader, TrackKind, Unit
from tests.media.hls.test_segmenter import AUDIO, NOW, VIDEO, interleaved

FRAME = CLOCK_RATE // 30


def b_frame_gop(start: int, frames: int = 30) -> list[Unit]:
    """One GOP as x264 sends it with two B-frames: I P B B P B B ... (decode order)."""
    display = [0]
    for p in range(3, frames, 3):
        display += [p, p - 2, p - 1]
    display += list(range(display[-3] + 1, frames)) if frames % 3 != 1 else []
    units = []
    for n, shown in enumerate(display[:frames]):
        dts = start + n * FRAME
        pts = start + (shown + 2) * FRAME
        units.append(Unit(1, TrackKind.VIDEO, dts, pts, n == 0, b"v" * 40))
    return units


def presented(segmenter: Segmenter) -> list[tuple[bool, int, int, int]]:
    """(new session?, dts, pts, end of presentation) of every video sample in the parts."""
    out = []
    for segment in segmenter.segments:
        session_two = any(s.discontinuity for s in segmenter.segments if s.msn <= segment.msn)
        for part in segment.parts:
            moof = parse_boxes(part.data)[0]
            traf = moof.find_all("traf")[0]
            dts = parse_tfdt(traf.find("tfdt").payload)
            for sample in parse_trun(traf.find("trun").payload)[1]:
                pts = dts + sample.composition_offset
                out.append((session_two, dts, pts, pts + sample.duration))
                dts += sample.duration
    return out


def test_a_new_session_is_presented_after_every_picture_of_the_old_one() -> None:
    segmenter = Segmenter()
    segmenter.push(StreamHeader(1, (VIDEO,)), NOW)
    old = b_frame_gop(0) + b_frame_gop(30 * FRAME)[:5]  # cut off after a P, before its Bs
    for unit in old:
        segmenter.push(unit, NOW)
    segmenter.push(StreamHeader(2, (VIDEO,)), NOW)
    base = 7_000_000  # the new publisher's clock starts anywhere
    for unit in b_frame_gop(base) + b_frame_gop(base + 30 * FRAME) + b_frame_gop(base + 60 * FRAME):
        segmenter.push(unit, NOW)

    samples = presented(segmenter)
    before = [s for s in samples if not s[0]]
    after = [s for s in samples if s[0]]
    assert before and after
    assert min(s[2] for s in after) >= max(s[3] for s in before)
    dts = [s[1] for s in samples]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)
    assert len({s[2] for s in samples}) == len(samples)


def test_playlist_text_is_the_rendered_playlist_after_every_change() -> None:
    segmenter = Segmenter()
    texts = set()
    for session, start in ((1, 0), (2, 5 * CLOCK_RATE), (3, 9 * CLOCK_RATE)):
        segmenter.push(StreamHeader(session, (VIDEO, AUDIO)), NOW)
        for unit in interleaved(3.0, fps=30, gop=1.0, audio=True, start=start, video=True):
            segmenter.push(unit, NOW)
            playlist = segmenter.playlist()
            text = segmenter.playlist_text()
            assert text == (None if playlist is None else playlist.render())
            texts.add(text)
    assert len(texts) > 30
    assert segmenter.playlist_text() is segmenter.playlist_text()  # cached between changes
