"""Test helpers: an ffmpeg-made show fed into the hub in real time, and ffprobe as a player."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.flvfile import read_show
from media.hub import Hub
from media.units import Track, Unit

VIDEO_ID, AUDIO_ID = 1, 2


def make_show(path: Path, seconds: int = 10, size: str = "320x240", rate: int = 30,
              video_bitrate: str = "400k") -> Path:
    """An FLV with H.264 (keyframe every second, B-frames) and AAC, made by ffmpeg."""
    subprocess.run([
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "high", "-bf", "2", "-g", str(rate),
        "-b:v", video_bitrate, "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path),
    ], check=True, timeout=120)
    return path


@dataclass
class Show:
    tracks: tuple[Track, ...]
    units: list[Unit]
    duration_ms: int


def load_show(path: Path) -> Show:
    tracks, units = read_show(path)
    last = max(u.dts for u in units) // 90
    return Show(tracks, units, last + 34)


async def feed(hub: Hub, slug: str, show: Show, *, seconds: float | None = None) -> None:
    """Publish ``show`` to the hub in real time, looping it, until cancelled (or ``seconds``)."""
    stream = hub.start_publish(slug, f"test:{slug}", show.tracks)
    start = time.monotonic()
    loop = 0
    try:
        while seconds is None or time.monotonic() - start < seconds:
            offset = loop * show.duration_ms * 90
            for unit in show.units:
                due = start + (offset + unit.dts) / 90_000
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                stream.write(Unit(unit.track_id, unit.kind, unit.dts + offset, unit.pts + offset,
                                  unit.keyframe, unit.payload))
            loop += 1
    finally:
        hub.end_publish(slug, f"test:{slug}")


async def probe(url: str, seconds: float = 3.0) -> dict[str, Any]:
    """ffprobe pulls ``url`` for ``seconds`` and returns streams and packets."""
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-rw_timeout", "8000000", "-read_intervals", f"%+{seconds}",
        "-show_entries", "stream=index,codec_name,codec_type:packet=stream_index,dts_time,pts_time",
        "-of", "json", url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=seconds + 20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


def assert_h264_aac_continuous(result: dict[str, Any], max_gap: float = 0.5) -> None:
    codecs = {s["index"]: s["codec_name"] for s in result["streams"]}
    assert sorted(codecs.values()) == ["aac", "h264"], codecs
    for index in codecs:
        times = [float(p["dts_time"]) for p in result["packets"] if p["stream_index"] == index and "dts_time" in p]
        assert len(times) > 20, (codecs[index], len(times))
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 0, f"{codecs[index]} timestamps go backwards"
        assert max(gaps) < max_gap, f"{codecs[index]} gap of {max(gaps):.3f} s"
