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
import time
from importlib import metadata
from typing import Any

import aiohttp

from loadtest import janus
from loadtest.webrtc_viewers import cpu_seconds
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
    """A viewer process (as ``webrtc_viewers.worker``): open ``count`` viewers, say ready, then on
    each "go" line measure a window and print every viewer's video rate (Mbit/s) as JSON."""
    viewers: list[JanusViewer] = []
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            viewer = JanusViewer()
            await viewer.start(http, base)
            viewers.append(viewer)
        print("ready", flush=True)
        while (line := await loop.run_in_executor(None, sys.stdin.readline)).strip():
            window = float(line.split()[1])
            before = [v.video_bytes for v in viewers]
            started = time.monotonic()
            await asyncio.sleep(window)
            elapsed = time.monotonic() - started
            print(json.dumps([(v.video_bytes - b) * 8 / elapsed / 1e6 for v, b in zip(viewers, before, strict=True)]),
                  flush=True)
        for viewer in viewers:
            await viewer.pc.close()


def spawn(base: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "loadtest.webrtc_vs_janus", "--worker", base, str(count)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


async def run_janus(viewers: int, procs: int, window: float, event_loops: int) -> dict[str, Any]:
    """One Janus run, measured as ``webrtc_viewers.run`` measures ours."""
    loop = asyncio.get_running_loop()
    with janus.namespace() as (ns, interface):
        server = janus.start(ns, interface, event_loops)
        workers: list[subprocess.Popen[str]] = []
        try:
            await asyncio.sleep(2)  # the feed's first keyframe reaches the mountpoint
            workers = [spawn(server.base, viewers // procs) for _ in range(procs)]
            for w in workers:
                assert w.stdout is not None
                if not (await loop.run_in_executor(None, w.stdout.readline)).strip():
                    raise RuntimeError(f"a Janus viewer process failed:\n{server.log.read_text(errors='replace')[-2000:]}")
            await asyncio.sleep(5)  # ICE and DTLS settle, keyframes reach everyone
            before = cpu_seconds(server.pid)
            started = time.monotonic()
            for w in workers:
                assert w.stdin is not None
                w.stdin.write(f"go {window}\n")
                w.stdin.flush()
            rates: list[float] = []
            for w in workers:
                assert w.stdout is not None
                rates += json.loads(await loop.run_in_executor(None, w.stdout.readline))
            cpu = (cpu_seconds(server.pid) - before) / (time.monotonic() - started)
            total = len(rates)
            return {"viewers": total, "viewer_procs": procs, "server_cpu_cores": round(cpu, 3),
                    "viewers_per_core": round(total / cpu, 1) if cpu else None,
                    "video_mbps_min": round(min(rates), 2), "video_mbps_median": round(sorted(rates)[total // 2], 2),
                    "viewers_at_full_rate": sum(1 for r in rates if r >= 2.2),
                    "load_average": [round(v, 2) for v in os.getloadavg()]}
        finally:
            for w in workers:
                if w.stdin is not None:
                    w.stdin.close()
                try:
                    w.wait(20)
                except subprocess.TimeoutExpired:
                    w.kill()
            server.stop()


def slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares cores per extra viewer through (viewers, cores)."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def summary(runs: list[dict[str, Any]], sides: list[str], counts: list[int]) -> list[str]:
    lines = ["| side | " + " | ".join(f"{n} viewers: cores (viewers/core)" for n in counts)
             + " | millicores per extra viewer |",
             "| --- | " + " | ".join("---:" for _ in counts) + " | ---: |"]
    slopes: dict[str, float | None] = {}
    for side in sides:
        medians = []
        for n in counts:
            cores = [r["server_cpu_cores"] for r in runs if r["side"] == side and r["asked"] == n]
            medians.append((n, statistics.median(cores)))
        slopes[side] = slope(medians)
        per = slopes[side]
        cells = " | ".join(f"{c:.3f} ({n / c:.0f})" if c else "n/a" for n, c in medians)
        lines.append(f"| {side} | {cells} | " + (f"{1000 * per:.1f} |" if per is not None else "n/a |"))
    ours = slopes.get("ours")
    for side in sides:
        theirs = slopes.get(side)
        if side != "ours" and ours is not None and theirs is not None and theirs > 0:
            lines.append(f"\nper extra viewer: ours {1000 * ours:.1f} millicores, {side} {1000 * theirs:.1f}: "
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
