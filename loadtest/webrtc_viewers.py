"""How many WHEP viewers one server process carries at 2.5 Mbps.

ffmpeg publishes 720p30 H.264 at 2.5 Mbps + AAC over RTMP to ``loadtest.webrtc_server`` (its
own process); this process opens WHEP viewers in steps. The viewers depacketize but do not
decode (a tap on aiortc's receiver, as the server does for WHIP), so they cost little; for each
step we measure the server process's CPU (``/proc``) over a window and what each viewer
received. Viewers per core = viewers / (server CPU seconds per second).

The viewers live in ``--procs`` processes of their own (one Python process receiving SRTP
tops out at about 20 viewers of 2.5 Mbps). Run:
``python -m loadtest.webrtc_viewers --viewers 40 --procs 2 --window 10`` (``--viewer-nice 19``
on a shared machine: the viewers yield, the servers keep their priority).

``--edges N`` publishes to one server (the origin) and spreads the viewers evenly over N more,
each an edge of the origin (``loadtest.webrtc_server --origin``: its viewers go through one
edge relay pulling the room from the origin, media.webrtc.edge); the result gives each
node's CPU, and each edge's CPU per viewer, to set beside a run without edges.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCSessionDescription

from loadtest.webrtc_latency import LOOPBACK, post, wait_live
from loadtest.webrtc_server_proc import ServerProc
from media.webrtc.ice import apply_ice_policy, new_peer_connection
from media.webrtc.taps import tap_receiver

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class CountingViewer:
    def __init__(self) -> None:
        self.pc = new_peer_connection(LOOPBACK)
        self.video_bytes = 0
        self.audio_frames = 0
        for kind in ("video", "audio"):
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            tap_receiver(transceiver.receiver, self._video if kind == "video" else self._audio)

    def _video(self, _codec: Any, frame: Any) -> bool:
        self.video_bytes += len(frame.data)
        return False

    def _audio(self, _codec: Any, _frame: Any) -> bool:
        self.audio_frames += 1
        return False

    async def start(self, http: aiohttp.ClientSession, base: str, slug: str) -> None:
        apply_ice_policy(self.pc, LOOPBACK)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await post(http, f"{base}/whep/{slug}", self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


def publish(rtmp: str, slug: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60",
         "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-f", "flv", f"{rtmp}/{slug}"],
    )  # fmt: skip


async def worker(base: str, slug: str, count: int) -> None:
    """A viewer process: open ``count`` WHEP viewers, then :func:`serve` them."""
    viewers: list[CountingViewer] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            viewer = CountingViewer()
            await viewer.start(http, base, slug)
            viewers.append(viewer)
        await serve(viewers)


async def serve(viewers: Sequence[Any]) -> None:
    """A viewer process once its viewers (each with ``pc`` and ``video_bytes``) are open: say
    ready, then on each "go W" line measure W seconds and print every viewer's received video
    rate (Mbit/s) as JSON; close them when the input ends."""
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    while (line := await loop.run_in_executor(None, sys.stdin.readline)).strip():
        window = float(line.split()[1])
        before = [v.video_bytes for v in viewers]
        started = time.monotonic()
        await asyncio.sleep(window)
        elapsed = time.monotonic() - started
        rates = [(v.video_bytes - b) * 8 / elapsed / 1e6 for v, b in zip(viewers, before, strict=True)]
        print(json.dumps(rates), flush=True)
    for viewer in viewers:
        await viewer.pc.close()


async def measure(workers: list[subprocess.Popen[str]], pids: list[int], window: float) -> tuple[list[float], list[float]]:
    """Wait for every viewer process to be ready, let ICE and DTLS settle, then measure one
    window: every viewer's video rate (Mbit/s) and each of ``pids``' CPU (cores)."""
    loop = asyncio.get_running_loop()
    for w in workers:
        assert w.stdout is not None
        if not (await loop.run_in_executor(None, w.stdout.readline)).strip():
            raise RuntimeError("a viewer process ended before its viewers were open")
    await asyncio.sleep(5)  # ICE and DTLS settle, keyframes reach everyone
    before = [cpu_seconds(pid) for pid in pids]
    started = time.monotonic()
    for w in workers:
        assert w.stdin is not None
        w.stdin.write(f"go {window}\n")
        w.stdin.flush()
    rates: list[float] = []
    for w in workers:
        assert w.stdout is not None
        rates += json.loads(await loop.run_in_executor(None, w.stdout.readline))
    elapsed = time.monotonic() - started
    return rates, [(cpu_seconds(pid) - b) / elapsed for pid, b in zip(pids, before, strict=True)]


def rate_figures(rates: list[float]) -> dict[str, Any]:
    total = len(rates)
    return {"viewers": total, "video_mbps_min": round(min(rates), 2),
            "video_mbps_median": round(sorted(rates)[total // 2], 2),
            "viewers_at_full_rate": sum(1 for r in rates if r >= 2.2),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def stop_workers(workers: list[subprocess.Popen[str]]) -> None:
    for w in workers:
        if w.stdin is not None:
            w.stdin.close()
        try:
            w.wait(20)
        except subprocess.TimeoutExpired:
            w.kill()


def spawn(base: str, slug: str, count: int, nice: int = 0) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "loadtest.webrtc_viewers", "--worker", base, slug, str(count)]
    return subprocess.Popen(
        ["nice", "-n", str(nice), *args] if nice else args,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


async def run(viewers: int, procs: int, window: float, edges: int = 0, nice: int = 0) -> dict[str, Any]:
    server = ServerProc()
    server.start()
    relays = [ServerProc("--origin", server.url) for _ in range(edges)]
    for relay in relays:
        relay.start()
    ffmpeg = publish(server.rtmp_url, "load")
    workers: list[subprocess.Popen[str]] = []
    watched = relays or [server]
    per_node = max(1, procs // len(watched))
    try:
        async with aiohttp.ClientSession() as http:
            await wait_live(http, server.url, "load")
        workers = [spawn(node.url, "load", viewers // (per_node * len(watched)), nice)
                   for node in watched for _ in range(per_node)]
        nodes = [server, *relays]
        rates, cpus = await measure(workers, [node.pid for node in nodes], window)
        total = len(rates)
        result = {**rate_figures(rates), "viewer_procs": len(workers), "server_cpu_cores": round(cpus[0], 3)}
        if not relays:
            result["viewers_per_core"] = round(total / cpus[0], 1) if cpus[0] else None
            result["cpu_ms_per_viewer_s"] = round(1000 * cpus[0] / total, 2)
        else:
            per_edge = total // len(relays)
            result.update(edges=len(relays), origin_cpu_cores=round(cpus[0], 3),
                          edge_cpu_cores=[round(c, 3) for c in cpus[1:]],
                          edge_cpu_ms_per_viewer_s=[round(1000 * c / per_edge, 2) for c in cpus[1:]])
        return result
    finally:
        stop_workers(workers)
        ffmpeg.terminate()
        ffmpeg.wait(10)
        for relay in relays:
            relay.stop()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--procs", type=int, default=2, help="viewer processes")
    parser.add_argument("--window", type=float, default=10)
    parser.add_argument("--edges", type=int, default=0,
                        help="spread the viewers over this many edges of the publisher's server")
    parser.add_argument("--viewer-nice", type=int, default=0,
                        help="run the viewer processes at this niceness (the servers keep theirs)")
    parser.add_argument("--worker", nargs=3, metavar=("BASE", "SLUG", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        base, slug, count = args.worker
        asyncio.run(worker(base, slug, int(count)))
        return
    print(json.dumps(asyncio.run(run(args.viewers, args.procs, args.window, args.edges, args.viewer_nice))))


if __name__ == "__main__":
    main()
