"""The recorder against a real hub, real encoded H.264/AAC, the real file system and ffprobe."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from media.hls.export import remux_to_mp4
from media.hls.recorder import PLAYLIST, Recorder, recover
from media.hls.vod import parse
from media.hub import Hub
from media.units import TrackKind
from tests.media.hls.sources import Source
from tests.support.disk import unwritable
from tests.support.wait import eventually

DEADLINE = 60.0


def ffprobe_vod(path: Path) -> dict[str, Any]:
    args = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-show_packets",
            "-of", "json", str(path)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def publish(hub: Hub, source: Source, units: Any = None) -> None:
    """Write ``units`` (all of the source by default) to the room's stream."""
    stream = hub.get("room")
    assert stream is not None
    for unit in units if units is not None else source.units:
        stream.write(unit)


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub(reconnect_grace=10.0)
    yield hub
    hub.close()


def source_seconds(source: Source) -> float:
    video = [u.pts for u in source.units if u.kind is TrackKind.VIDEO]
    return (max(video) - min(video)) / 90_000


async def test_reconnect_gives_one_discontinuity_and_ffprobe_reads_the_vod(
    hub: Hub, make_source: Callable[..., Source], tmp_path: Path
) -> None:
    source = make_source("rec-8s", seconds=8, gop=30)
    hub.start_publish("room", "test", source.tracks)
    recorder = Recorder(hub.get("room"), tmp_path / "rec")  # type: ignore[arg-type]
    recorder.start()
    half = len(source.units) // 2
    publish(hub, source, source.units[:half])
    await eventually(lambda: recorder._reader.pending == 0, DEADLINE)
    hub.end_publish("room", "test")
    hub.start_publish("room", "test", source.tracks)
    publish(hub, source)  # the publisher reconnected: its timestamps start again at 0
    await eventually(lambda: recorder._reader.pending == 0, DEADLINE)
    hub.stop("room")
    await asyncio.wait_for(recorder.wait(), DEADLINE)

    status = json.loads((tmp_path / "rec" / "recording.json").read_text())
    assert status["state"] == "ended" and status["gaps"] == 0
    text = (tmp_path / "rec" / PLAYLIST).read_text()
    assert text.endswith("#EXT-X-ENDLIST\n") and "#EXT-X-PLAYLIST-TYPE:VOD" in text
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == text.count("#EXTINF:")
    playlist = parse(text)
    expected = source_seconds(source) * 1.5  # half, then all of it
    assert abs(playlist.duration - expected) < 4.0  # within one segment
    assert not list((tmp_path / "rec").glob("*.tmp"))
    result = ffprobe_vod(tmp_path / "rec" / PLAYLIST)
    codecs = sorted(s["codec_name"] for s in result["streams"])
    assert codecs == ["aac", "h264"]
    assert abs(float(result["format"]["duration"]) - expected) < 4.0


async def trickle(hub: Hub, recorder: Recorder, units: Any) -> None:
    """Write ``units`` 20 at a time, letting the recorder catch up in between."""
    stream = hub.get("room")
    assert stream is not None
    for start in range(0, len(units), 20):
        for unit in units[start : start + 20]:
            stream.write(unit)
        await eventually(lambda: recorder._reader.pending == 0, DEADLINE)


async def test_a_recorder_that_falls_behind_skips_to_a_keyframe_and_counts_the_gap(
    hub: Hub, make_source: Callable[..., Source], tmp_path: Path
) -> None:
    source = make_source("rec-8s", seconds=8, gop=30)
    hub.start_publish("room", "test", source.tracks)
    recorder = Recorder(hub.get("room"), tmp_path / "rec", max_units=100)  # type: ignore[arg-type]
    other = hub.add_reader("room", "hls")
    recorder.start()
    third = len(source.units) // 3
    await trickle(hub, recorder, source.units[:third])
    stream = hub.get("room")
    assert stream is not None
    for unit in source.units[third : 2 * third]:  # at once, without yielding: the buffer overflows
        stream.write(unit)
    assert recorder._reader.drops > 0
    await trickle(hub, recorder, source.units[2 * third :])
    assert other.drops == 0 and other.pending == len(source.units)
    hub.stop("room")
    await asyncio.wait_for(recorder.wait(), DEADLINE)
    status = json.loads((tmp_path / "rec" / "recording.json").read_text())
    assert status["state"] == "ended" and status["gaps"] == 1
    playlist = parse((tmp_path / "rec" / PLAYLIST).read_text())
    assert playlist.ended and playlist.discontinuities == 1
    assert playlist.duration < source_seconds(source) - 1  # the gap is not in the recording
    result = ffprobe_vod(tmp_path / "rec" / PLAYLIST)
    assert sorted(s["codec_name"] for s in result["streams"]) == ["aac", "h264"]


async def test_a_directory_that_cannot_be_written_stops_recording_and_not_the_stream(
    hub: Hub, make_source: Callable[..., Source], tmp_path: Path
) -> None:
    source = make_source("rec-8s", seconds=8, gop=30)
    undo = unwritable(tmp_path / "ro")
    try:
        hub.start_publish("room", "test", source.tracks)
        recorder = Recorder(hub.get("room"), tmp_path / "ro" / "rec")  # type: ignore[arg-type]
        viewer = hub.add_reader("room", "hls")
        recorder.start()
        await asyncio.wait_for(recorder.wait(), DEADLINE)
        assert recorder.status.state == "failed"
        assert "Operation not permitted" in (recorder.status.error or "") or "Permission denied" in (
            recorder.status.error or ""
        )
        publish(hub, source)
        stream = hub.get("room")
        assert stream is not None and stream.state == "live"
        assert viewer.pending == len(source.units) and viewer.drops == 0
        assert all(r.kind != "recorder" for r in stream.readers)
    finally:
        undo()


async def test_recover_closes_a_recording_whose_writer_died(
    hub: Hub, make_source: Callable[..., Source], tmp_path: Path
) -> None:
    source = make_source("rec-8s", seconds=8, gop=30)
    hub.start_publish("room", "test", source.tracks)
    recorder = Recorder(hub.get("room"), tmp_path / "rec")  # type: ignore[arg-type]
    recorder.start()
    publish(hub, source)
    await eventually(lambda: recorder.status.segments >= 1 and recorder._reader.pending == 0, DEADLINE)
    assert recorder._task is not None
    recorder._task.cancel()  # the process died: nothing closed the recording
    await asyncio.gather(recorder._task, return_exceptions=True)
    (tmp_path / "rec" / "seg-99.m4s.tmp").write_bytes(b"half a segment")
    listed = parse((tmp_path / "rec" / PLAYLIST).read_text())
    assert not listed.ended

    assert recover(tmp_path / "rec")
    assert not recover(tmp_path / "rec")  # closed once
    closed = parse((tmp_path / "rec" / PLAYLIST).read_text())
    assert closed.ended and closed.segments == listed.segments
    status = json.loads((tmp_path / "rec" / "recording.json").read_text())
    assert status["state"] == "ended" and status["recovered"] is True
    assert not list((tmp_path / "rec").glob("*.tmp"))
    ffprobe_vod(tmp_path / "rec" / PLAYLIST)


async def test_a_second_stream_of_the_show_continues_its_recording_after_a_discontinuity(
    hub: Hub, make_source: Callable[..., Source], tmp_path: Path
) -> None:
    source = make_source("rec-8s", seconds=8, gop=30)
    for _ in range(2):
        hub.start_publish("room", "test", source.tracks)
        recorder = Recorder(hub.get("room"), tmp_path / "rec")  # type: ignore[arg-type]
        recorder.start()
        publish(hub, source)
        await eventually(lambda: recorder._reader.pending == 0, DEADLINE)  # noqa: B023 - awaited here
        hub.stop("room")
        await asyncio.wait_for(recorder.wait(), DEADLINE)
        text = (tmp_path / "rec" / PLAYLIST).read_text()
        assert text.endswith("#EXT-X-ENDLIST\n") and text.count("#EXT-X-ENDLIST") == 1
    playlist = parse(text)
    assert playlist.discontinuities == 1
    assert [s.uri for s in playlist.segments] == [f"seg-{i}.m4s" for i in range(len(playlist.segments))]
    assert [s.map_uri for s in playlist.segments if s.map_uri] == ["init-0.mp4", "init-1.mp4"]
    assert abs(playlist.duration - 2 * source_seconds(source)) < 4.0
    result = ffprobe_vod(tmp_path / "rec" / PLAYLIST)
    assert abs(float(result["format"]["duration"]) - 2 * source_seconds(source)) < 4.0

    seen: list[float] = []
    packets = await asyncio.to_thread(remux_to_mp4, tmp_path / "rec" / PLAYLIST, tmp_path / "show.mp4",
                                      playlist.duration, seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) > 5
    mp4 = ffprobe_vod(tmp_path / "show.mp4")
    assert sorted(s["codec_name"] for s in mp4["streams"]) == ["aac", "h264"]
    assert abs(float(mp4["format"]["duration"]) - 2 * source_seconds(source)) < 4.0
    assert len(mp4["packets"]) == packets
    for stream in mp4["streams"]:
        dts = [int(p["dts"]) for p in mp4["packets"] if p["stream_index"] == stream["index"]]
        assert all(b > a for a, b in zip(dts, dts[1:], strict=False))
        assert len(dts) > 0.8 * sum(u.kind == stream["codec_type"] for u in source.units) * 2
