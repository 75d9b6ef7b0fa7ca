"""Recording benchmark: CPU per recorder of a 6 Mbps show, the relay benchmark's method.

    .venv/bin/python -m loadtest.recording_bench [--recorders 1,4] [--seconds 20] [--bitrate 6M]

What it does: ffmpeg makes a 720p30 H.264 CBR (``--bitrate``) + AAC 128k show; it is fed
into an in-process hub in real time (as the RTMP ingest would, ``loadtest.relay_bench.feed``).
For each N, N :class:`media.hls.recorder.Recorder` read the stream and write their
recordings to a temporary directory (on the data disk, not tmpfs, unless ``--dir`` says
otherwise). This process's CPU time over ``--seconds`` (every thread, the writers included),
minus the CPU of feeding the hub with no recorder, divided by N, is what one recording costs.
It also reports the bytes written per second and the gaps (a recorder that fell behind).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from loadtest.relay_bench import SLUG, cpu_seconds, feed, load, make_show
from media.hls.recorder import Recorder
from media.hub import Hub


async def measure(show: Any, recorders: int, seconds: float, root: Path) -> dict[str, float]:
    hub = Hub(reconnect_grace=0)
    feeder = asyncio.create_task(feed(hub, *show))
    await asyncio.sleep(0.5)
    stream = hub.get(SLUG)
    assert stream is not None
    started = [Recorder(stream, root / f"rec-{recorders}-{i}") for i in range(recorders)]
    for recorder in started:
        recorder.start()
    await asyncio.sleep(3)  # settle: the GOP cache burst and the first segment are not measured
    bytes0 = sum(r.status.bytes for r in started)
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    written = sum(r.status.bytes for r in started) - bytes0
    feeder.cancel()
    await asyncio.gather(feeder, return_exceptions=True)
    hub.stop(SLUG)
    for recorder in started:
        await recorder.wait()
    return {"recorders": recorders, "cpu_pct": 100 * cpu / wall,
            "mbps_per_recorder": written * 8 / wall / 1e6 / max(1, recorders),
            "gaps": sum(r.status.gaps for r in started),
            "failed": sum(r.status.state == "failed" for r in started)}


async def run(args: argparse.Namespace, root: Path, show: Any) -> None:
    base = await measure(show, 0, args.seconds, root)
    print("| recorders | process CPU | CPU per recorder | Mbit/s written per recorder | gaps | failed |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| 0 (feeding the hub) | {base['cpu_pct']:.2f}% | | | | |")
    for count in (int(n) for n in args.recorders.split(",")):
        row = await measure(show, count, args.seconds, root)
        per = (row["cpu_pct"] - base["cpu_pct"]) / count
        print(f"| {count} | {row['cpu_pct']:.2f}% | {per:.2f}% | {row['mbps_per_recorder']:.2f} "
              f"| {row['gaps']:.0f} | {row['failed']:.0f} |", flush=True)


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recorders", default="1,4")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bitrate", default="6M")
    parser.add_argument("--dir", default="", help="where recordings go (default: a temporary dir under ./var)")
    args = parser.parse_args()
    Path("var").mkdir(exist_ok=True)
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="recording-bench-", dir="var"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        make_show(root / "show.flv", args.bitrate)
        uvloop.run(run(args, root, load(root / "show.flv")))
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
