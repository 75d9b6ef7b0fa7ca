"""Glass-to-glass latency to a WHEP viewer, by the frame-timecode method (loadtest.timecode).

Two sources:

* ``whip``: an aiortc publisher whose camera is a generator drawing the send time into each
  frame; aiortc encodes it to H.264 (libx264, as a browser would) and sends it over WHIP.
* ``rtmp``: the same frames piped raw into ffmpeg (libx264 zerolatency, FLV over RTMP), as OBS.

The viewer is an aiortc WHEP client in this process that decodes every frame and reads the
stamp. The server runs in its own process (``loadtest.webrtc_server``). All on loopback.

Run: ``python -m loadtest.webrtc_latency --source whip --seconds 20``.

``--via-edge`` starts a second server, an edge of the first (``--origin``): the publisher goes
to the first, and two viewers watch at the same time, one on the origin and one on the edge
(its edge relay pulls the room from the origin, media.webrtc.edge); the result has both and
what the edge added at p50.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any

import aiohttp
import av
from aiortc import RTCRtpSender, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from loadtest import timecode
from loadtest.webrtc_server_proc import ServerProc
from media.webrtc.config import WebRtcSettings
from media.webrtc.ice import apply_ice_policy, new_peer_connection

LOOPBACK = WebRtcSettings(host_addresses=("127.0.0.1",))
WIDTH, HEIGHT, FPS = 640, 360, 30


class TimecodeTrack(VideoStreamTrack):
    """A camera that shows the time it captured each frame."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        data = timecode.yuv420_frame(WIDTH, HEIGHT, timecode.now_ms(), self.count % 64)
        _fill(frame, data)
        frame.pts, frame.time_base = pts, time_base
        self.count += 1
        return frame


def _fill(frame: av.VideoFrame, data: bytes) -> None:
    y_size = WIDTH * HEIGHT
    c_size = y_size // 4
    frame.planes[0].update(data[:y_size])
    frame.planes[1].update(data[y_size:y_size + c_size])
    frame.planes[2].update(data[y_size + c_size:])


async def post(http: aiohttp.ClientSession, url: str, sdp: str, key: str | None = None) -> str:
    headers = {"Content-Type": "application/sdp"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    async with http.post(url, data=sdp, headers=headers) as answer:
        text = await answer.text()
        if answer.status != 201:
            raise RuntimeError(f"{url}: {answer.status} {text}")
        return text


async def whip_publisher(http: aiohttp.ClientSession, base: str, slug: str) -> Any:
    pc = new_peer_connection(LOOPBACK)
    transceiver = pc.addTransceiver(TimecodeTrack(), direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType in ("video/H264", "video/rtx")])
    apply_ice_policy(pc, LOOPBACK)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await post(http, f"{base}/whip/{slug}", pc.localDescription.sdp, slug)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc


def rtmp_publisher(rtmp: str, slug: str, seconds: float) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
         "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "ultrafast",
         "-tune", "zerolatency", "-g", str(FPS), "-b:v", "1500k", "-f", "flv", f"{rtmp}/{slug}"],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    return proc


async def feed_ffmpeg(proc: subprocess.Popen[bytes], seconds: float) -> None:
    assert proc.stdin is not None
    loop = asyncio.get_running_loop()
    start = loop.time()
    count = 0
    while loop.time() - start < seconds and proc.poll() is None:
        data = timecode.yuv420_frame(WIDTH, HEIGHT, timecode.now_ms(), count % 64)
        await loop.run_in_executor(None, proc.stdin.write, data)
        await loop.run_in_executor(None, proc.stdin.flush)
        count += 1
        await asyncio.sleep(max(0.0, start + count / FPS - loop.time()))
    proc.stdin.close()


async def whep_viewer(http: aiohttp.ClientSession, base: str, slug: str, samples: list[float],
                      warmup_until: float) -> Any:
    pc = new_peer_connection(LOOPBACK)
    pc.addTransceiver("video", direction="recvonly")
    tasks = []

    async def consume(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.VideoFrame) or frame.width != WIDTH:
                    continue
                stamp = timecode.read_stamp(bytes(frame.planes[0]), frame.planes[0].line_size)
                latency = timecode.latency_ms(stamp)
                if time.monotonic() > warmup_until and latency < 60_000:
                    samples.append(latency)

    pc.on("track", lambda track: tasks.append(asyncio.ensure_future(consume(track))))
    apply_ice_policy(pc, LOOPBACK)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await post(http, f"{base}/whep/{slug}", pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc, tasks


async def run(source: str, seconds: float, via_edge: bool = False) -> dict[str, Any]:
    server = ServerProc()
    server.start()
    edge = ServerProc("--origin", server.url) if via_edge else None
    if edge is not None:
        edge.start()
    samples: list[float] = []
    edge_samples: list[float] = []
    ffmpeg = None
    closers: list[Any] = []
    try:
        async with aiohttp.ClientSession() as http:
            slug = "bench"
            if source == "whip":
                closers.append(await whip_publisher(http, server.url, slug))
            else:
                ffmpeg = rtmp_publisher(server.rtmp_url, slug, seconds + 5)
                feeder = asyncio.ensure_future(feed_ffmpeg(ffmpeg, seconds + 8))
            await wait_live(http, server.url, slug)
            pc, tasks = await whep_viewer(http, server.url, slug, samples, time.monotonic() + 3)
            closers.append(pc)
            if edge is not None:
                edge_pc, edge_tasks = await whep_viewer(http, edge.url, slug, edge_samples, time.monotonic() + 3)
                closers.append(edge_pc)
                tasks += edge_tasks
            await asyncio.sleep(seconds + 3)
            for task in tasks:
                task.cancel()
            if ffmpeg is not None:
                feeder.cancel()
    finally:
        for pc in closers:
            await pc.close()
        if ffmpeg is not None:
            ffmpeg.kill()
            ffmpeg.wait()
        server.stop()
        if edge is not None:
            edge.stop()
    result = {"source": source, **summary(samples)}
    if via_edge:
        result["edge"] = summary(edge_samples)
        origin_p50, edge_p50 = result["p50_ms"], result["edge"]["p50_ms"]
        if origin_p50 is not None and edge_p50 is not None:
            result["edge_added_p50_ms"] = round(edge_p50 - origin_p50, 1)
    return result


def summary(samples: list[float]) -> dict[str, Any]:
    return {"frames": len(samples), "p50_ms": timecode.percentile(samples, 0.5),
            "p90_ms": timecode.percentile(samples, 0.9), "p99_ms": timecode.percentile(samples, 0.99),
            "max_ms": max(samples) if samples else None}


async def wait_live(http: aiohttp.ClientSession, base: str, slug: str, timeout: float = 20.0) -> None:
    """Until the room's LL-HLS playlist exists (the hub has the stream and its tracks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with http.get(f"{base}/live/{slug}/index.m3u8") as answer:
            if answer.status == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the stream did not go live")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("whip", "rtmp"), default="whip")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--via-edge", action="store_true",
                        help="two servers: publish to one, watch on it and on the other (an edge) at once")
    args = parser.parse_args()
    result = asyncio.run(run(args.source, args.seconds, args.via_edge))
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()


