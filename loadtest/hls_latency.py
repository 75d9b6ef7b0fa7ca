"""Glass-to-glass latency, RTMP in, LL-HLS out.

A publisher process (:mod:`loadtest.media_publisher`) draws the wall clock into every
picture, encodes it with libx264 (ultrafast, zerolatency, GOP 1 s) and publishes it over
RTMP with our RTMP client. A viewer here plays the room's LL-HLS like a low-latency player
(:mod:`loadtest.media_llhls`: blocking playlist reloads, preload hints), decodes every part
with PyAV and reads the stamp back from each picture: latency = now - stamp, per frame.

It starts its own ``notalabel serve`` on free loopback ports, or uses ``--url``:

    python -m loadtest.hls_latency --duration 30
    python -m loadtest.hls_latency --duration 30 --url http://127.0.0.1:8080
    python -m loadtest.hls_latency --duration 30 --via-edge --viewers 20

``--via-edge`` starts two nodes on one Redis (``--redis``): the publisher goes to the first
(the origin), and viewers play at the same time from the origin and from the second node
(an LL-HLS edge pulling from the origin, media.hls.edge); the result has both paths'
percentiles and what the edge added at p50. ``--viewers N`` puts N players on each path
(default 1): the first decodes and is measured, the others fetch every part and blocking
reload as a player does without decoding, so the measured one shares its node with them.

Measured at the moment a frame is decoded; a player adds its playback buffer on top
(PART-HOLD-BACK, 0.63 s with our playlists, for a player that honours it).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import time
from typing import Any

import aiohttp
import av

from loadtest import procstat
from loadtest.media_llhls import LowLatencyPlayer, run_for
from loadtest.media_server import MediaServer, create_room, start_server, wait_for_playlist
from loadtest.media_timecode import now_ms, percentile, read_stamp
from loadtest.servers import Started, start_ours

MAX_PLAUSIBLE_MS = 60_000


class StampReader:
    """Decode fMP4 parts in order and read the stamp of every picture."""

    def __init__(self, warmup_s: float) -> None:
        self.decoder: av.CodecContext | None = None
        self.latencies: list[float] = []
        self.unreadable = 0
        self.frames = 0
        self._measure_from = time.monotonic() + warmup_s

    def on_part(self, init: bytes, data: bytes) -> None:
        with av.open(io.BytesIO(init + data), format="mp4") as container:
            stream = container.streams.video[0]
            if self.decoder is None:
                self.decoder = av.CodecContext.create("h264", "r")
                self.decoder.extradata = stream.codec_context.extradata
            for packet in container.demux(stream):
                if packet.size:
                    for frame in self.decoder.decode(packet):
                        self._on_frame(frame)

    def _on_frame(self, frame: av.VideoFrame) -> None:
        self.frames += 1
        plane = frame.planes[0]
        latency = now_ms() - read_stamp(memoryview(plane), plane.line_size)
        if not 0 <= latency < MAX_PLAUSIBLE_MS:
            self.unreadable += 1
        elif time.monotonic() >= self._measure_from:
            self.latencies.append(float(latency))


def summary(reader: StampReader, player: LowLatencyPlayer) -> dict[str, Any]:
    values = reader.latencies
    return {
        "frames_decoded": reader.frames, "frames_measured": len(values),
        "unreadable": reader.unreadable, "parts": player.parts, "reloads": player.reloads,
        "reload_errors": player.errors,
        "p50_ms": percentile(values, 0.50), "p90_ms": percentile(values, 0.90),
        "p95_ms": percentile(values, 0.95), "p99_ms": percentile(values, 0.99), "min_ms": min(values), "max_ms": max(values),
        "mean_ms": round(sum(values) / len(values), 1),
    }


def _fetch_only(init: bytes, data: bytes) -> None:
    """A player that fetches but does not decode: load on the node, not measured."""


async def measure(base: str, duration: float, warmup: float, size: str, fps: int,
                  viewers: list[str] | None = None, players_each: int = 1) -> list[dict[str, Any]]:
    """Publish to ``base``; play from each of ``viewers`` (default: ``base``) at once, with
    ``players_each`` players on each, the first of which is measured."""
    viewers = viewers or [base]
    slug, publish_url = await create_room(base)
    publisher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest.media_publisher", "--url", publish_url,
        "--duration", str(duration + warmup + 15), "--size", size, "--fps", str(fps),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    playlists = [f"{viewer}/live/{slug}/index.m3u8" for viewer in viewers]
    readers: list[StampReader] = []
    players: list[LowLatencyPlayer] = []
    try:
        for playlist in playlists:
            await wait_for_playlist(playlist)
        readers = [StampReader(warmup) for _ in playlists]  # warm-up counts from the first playlist
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            players = [LowLatencyPlayer(session, playlist, reader.on_part)
                       for playlist, reader in zip(playlists, readers, strict=True)]
            loaders = [LowLatencyPlayer(session, playlist, _fetch_only)
                       for playlist in playlists for _ in range(players_each - 1)]
            await asyncio.gather(*(run_for(player, duration + warmup) for player in players + loaders))
    finally:
        if publisher.returncode is None:
            publisher.kill()
        _, err = await asyncio.wait_for(publisher.communicate(), 10)
    if not readers or not all(reader.latencies for reader in readers):
        raise RuntimeError(f"no frame measured; publisher said: {err.decode(errors='replace')[-2000:]}")
    return [summary(reader, player) for reader, player in zip(readers, players, strict=True)]


async def via_edge(args: argparse.Namespace) -> dict[str, Any]:
    nodes: list[Started] = start_ours(2, redis=args.redis)
    try:
        origin, edge = await measure(nodes[0].url, args.duration, args.warmup, args.size, args.fps,
                                     viewers=[nodes[0].url, nodes[1].url], players_each=args.viewers)
    finally:
        for node in nodes:
            node.stop()
    return {**edge, "origin": origin, "edge": edge, "viewers_per_path": args.viewers,
            "edge_added_p50_ms": round(edge["p50_ms"] - origin["p50_ms"], 1)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if args.via_edge:
        result = await via_edge(args)
        result.update(duration_s=args.duration, size=args.size, fps=args.fps, via_edge=True,
                      load_average=[round(v, 2) for v in os.getloadavg()])
        return result
    server: MediaServer | None = None
    base = args.url
    if base is None:
        server = start_server()
        base = server.url
    try:
        cpu0, wall0 = (procstat.cpu_seconds(server.pid) if server else 0.0), time.monotonic()
        (result,) = await measure(base.rstrip("/"), args.duration, args.warmup, args.size, args.fps)
        if server is not None:
            elapsed = time.monotonic() - wall0
            result["server_cpu_percent"] = round(100 * (procstat.cpu_seconds(server.pid) - cpu0) / elapsed, 1)
    finally:
        if server is not None:
            server.stop()
    result.update(duration_s=args.duration, size=args.size, fps=args.fps,
                  load_average=[round(v, 2) for v in os.getloadavg()])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds played before measuring")
    parser.add_argument("--url", default=None, help="an existing server (default: start one)")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--via-edge", action="store_true",
                        help="two nodes: publish to one, play from it and from the other (an LL-HLS edge) at once")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis of the two nodes (--via-edge)")
    parser.add_argument("--viewers", type=int, default=1,
                        help="players on each path (--via-edge); the first decodes and is measured, the rest only fetch")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)
    if args.viewers < 1 or (args.viewers > 1 and not args.via_edge):
        parser.error("--viewers takes 1 or more, and more than 1 only with --via-edge")
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result))
        return
    through = " through an edge node" if args.via_edge else ""
    print(f"RTMP -> LL-HLS glass to glass{through}, {result['frames_measured']} frames over {args.duration:.0f} s "
          f"({result['size']}@{result['fps']}):")
    print(f"  p50 {result['p50_ms']:.0f} ms   p90 {result['p90_ms']:.0f} ms   p99 {result['p99_ms']:.0f} ms"
          f"   min {result['min_ms']:.0f} ms   max {result['max_ms']:.0f} ms")
    if args.via_edge:
        for path in ("origin", "edge"):
            r = result[path]
            print(f"  {path:6}  {r['frames_measured']} frames   p50 {r['p50_ms']:.0f} ms   p95 {r['p95_ms']:.0f} ms"
                  f"   p99 {r['p99_ms']:.0f} ms   ({args.viewers} players on this path)")
        print(f"  the edge added {result['edge_added_p50_ms']:.0f} ms at p50")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
