"""WHEP viewers against Janus, both sides in one run: ``python -m loadtest.webrtc_vs_janus``.

For each viewer count, alternating ``--rounds`` times: our server (``loadtest.webrtc_viewers``:
ffmpeg publishes 720p30 H.264 at 2.5 Mbit/s + AAC over RTMP, viewers over WHEP) and Janus
(:mod:`loadtest.janus`: its streaming plugin fed the same H.264 with Opus over RTP, in a network
namespace of the benchmark's own, viewers over its HTTP API). The viewers are the same aiortc
peers that only depacketize (a tap on the receiver), in ``--procs`` processes of their own; each
side's server CPU comes from ``/proc`` over the same window. Janus runs with its default
threading, and with ``--janus-event-loops N`` (its best configuration here) as a third side.

It prints every run, then per side the median cores per viewer count and the CPU per extra
viewer (the slope of a least-squares line through the medians, millicores), the ratio ours /
Janus for each Janus configuration, and the versions it ran (Python, aiortc, aioice, PyAV,
pylibsrtp, cryptography; Janus's Debian package). Needs root (``ip netns``) and installs Janus
from Debian if it is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from typing import Any

import aiohttp

from loadtest import janus
from loadtest.webrtc_viewers import measure, rate_figures, serve, stop_workers
from loadtest.webrtc_viewers import run as run_ours
from media.webrtc.config import WebRtcSettings
from media.webrtc.ice import apply_ice_policy, new_peer_connection
from media.webrtc.taps import tap_receiver

TOWARDS_JANUS = WebRtcSettings(host_addresses=(janus.HOST_ADDRESS,))


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "janus": janus.janus_version()}
    for name in ("aiortc", "aioice", "av", "pylibsrtp", "cryptography"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


class JanusViewer:
    """An aiortc peer watching Janus's mountpoint; counts what it receives, decodes nothing."""

    def __init__(self) -> None:
        self.pc = new_peer_connection(TOWARDS_JANUS)
        self.video_bytes = 0
        self.audio_frames = 0

    def _video(self, _codec: Any, frame: Any) -> bool:
        self.video_bytes += len(frame.data)
        return False

    def _audio(self, _codec: Any, _frame: Any) -> bool:
        self.audio_frames += 1
        return False

    def _prepare(self, pc: Any) -> None:
        for transceiver in pc.getTransceivers():
            tap_receiver(transceiver.receiver, self._video if transceiver.kind == "video" else self._audio)
        apply_ice_policy(pc, TOWARDS_JANUS)

    async def start(self, http: aiohttp.ClientSession, base: str) -> None:
        await janus.janus_watch(http, base, self.pc, self._prepare)


async def worker(base: str, count: int) -> None:
    """A viewer process: open ``count`` Janus viewers, then serve them as
    :func:`loadtest.webrtc_viewers.serve` does for ours."""
    viewers: list[JanusViewer] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            viewer = JanusViewer()
            await viewer.start(http, base)
            viewers.append(viewer)
        await serve(viewers)


def spawn(base: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "loadtest.webrtc_vs_janus", "--worker", base, str(count)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


async def run_janus(viewers: int, procs: int, window: float, event_loops: int) -> dict[str, Any]:
    """One Janus run, measured as ``webrtc_viewers.run`` measures ours."""
    with janus.namespace() as (ns, interface):
        server = janus.start(ns, interface, event_loops)
        workers: list[subprocess.Popen[str]] = []
        try:
            await asyncio.sleep(2)  # the feed's first keyframe reaches the mountpoint
            workers = [spawn(server.base, viewers // procs) for _ in range(procs)]
            rates, (cpu,) = await measure(workers, [server.pid], window)
            return {**rate_figures(rates), "viewer_procs": procs, "server_cpu_cores": round(cpu, 3),
                    "viewers_per_core": round(len(rates) / cpu, 1) if cpu else None}
        finally:
            stop_workers(workers)
            server.stop()


def slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares cores per extra viewer through (viewers, cores)."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def full_rate(run: dict[str, Any]) -> bool:
    """Every viewer of the run got the stream's rate: a run whose viewers starved (their own
    processes, or the box, could not keep up) measures the viewers, not the server."""
    return bool(run["viewers_at_full_rate"] == run["viewers"])


def summary(runs: list[dict[str, Any]], sides: list[str], counts: list[int]) -> list[str]:
    """Medians and slopes over the runs whose viewers all got the full rate only."""
    lines = ["| side | " + " | ".join(f"{n} viewers: cores (viewers/core)" for n in counts)
             + " | millicores per extra viewer |",
             "| --- | " + " | ".join("---:" for _ in counts) + " | ---: |"]
    slopes: dict[str, float | None] = {}
    for side in sides:
        medians: list[tuple[int, float | None]] = []
        for n in counts:
            cores = [r["server_cpu_cores"] for r in runs if r["side"] == side and r["asked"] == n and full_rate(r)]
            medians.append((n, statistics.median(cores) if cores else None))
        slopes[side] = slope([(n, c) for n, c in medians if c is not None])
        per = slopes[side]
        cells = " | ".join(f"{c:.3f} ({n / c:.0f})" if c else "starved" for n, c in medians)
        lines.append(f"| {side} | {cells} | " + (f"{1000 * per:.1f} |" if per is not None else "n/a |"))
    starved = sum(1 for r in runs if not full_rate(r))
    if starved:
        lines.append(f"\n{starved} of {len(runs)} runs left out: some viewers got less than the stream's rate")
    ours = slopes.get("ours")
    for side in sides:
        theirs = slopes.get(side)
        if side != "ours" and ours is not None and theirs is not None and theirs > 0:
            lines.append(f"per extra viewer: ours {1000 * ours:.1f} millicores, {side} {1000 * theirs:.1f}: "
                         f"ours / {side} = {ours / theirs:.2f}x (goal: below 1)")
    if ours is not None and ours > 0:
        lines.append(f"ours: {1 / ours:.0f} viewers per core at the margin (goal: at least 600)")
    return lines


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    janus.ensure_janus()
    counts = [int(n) for n in args.viewers.split(",")]
    sides = ["janus", "ours"] + ([f"janus event_loops={args.janus_event_loops}"] if args.janus_event_loops else [])
    runs: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        for n in counts:
            for side in sides:
                if side == "ours":
                    result = await run_ours(n, args.procs, args.window)
                else:
                    loops = args.janus_event_loops if "event_loops" in side else 0
                    result = await run_janus(n, args.procs, args.window, loops)
                result.update(side=side, asked=n, round=round_no + 1)
                print(json.dumps(result), flush=True)
                runs.append(result)
    print()
    print("\n".join(summary(runs, sides, counts)))
    print(f"\nversions: {json.dumps(versions())}; machine: {os.cpu_count()} cores, "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.webrtc_vs_janus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", default="10,20,30", help="comma-separated viewer counts")
    parser.add_argument("--procs", type=int, default=2, help="viewer processes per run")
    parser.add_argument("--window", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="times each side runs each count, alternating")
    parser.add_argument("--janus-event-loops", type=int, default=2,
                        help="also run Janus with this many event loops (0: only its default)")
    parser.add_argument("--json", default="", help="also write every run as JSON to this file")
    parser.add_argument("--worker", nargs=2, metavar=("BASE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker[0], int(args.worker[1])))
        return
    runs = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"runs": runs, "versions": versions()}, out, indent=2)


if __name__ == "__main__":
    main()
