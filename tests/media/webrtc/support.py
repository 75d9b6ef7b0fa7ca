"""Real WebRTC peers for the tests: aiortc clients that publish (WHIP) and watch (WHEP),
media files made by ffmpeg, and an aiohttp app composing the hub with our routes."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.hls import http as hls_http
from media.hub import Hub
from media.webrtc import whep, whip
from media.webrtc.config import WebRtcSettings
from media.webrtc.ice import apply_ice_policy, new_peer_connection

LOOPBACK = WebRtcSettings(host_addresses=("127.0.0.1",))
KEY = "sk_live_test_key"
ROOMS = {"room1", "room2", "room3"}


def make_source(path: Path, seconds: int = 8, *, vcodec: str = "h264", size: str = "320x240") -> Path:
    """An MPEG-TS file: test pattern video (H.264 baseline in Annex B, or VP8 in WebM) and a
    440 Hz Opus tone, for aiortc's MediaPlayer."""
    video = (["-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency",
              "-g", "30", "-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", "-f", "mpegts"]
             if vcodec == "h264" else ["-c:v", "libvpx", "-deadline", "realtime", "-g", "30", "-f", "webm"])
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=size={size}:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(seconds), *video[:-2], "-c:a", "libopus", "-ac", "2", "-b:a", "64k", *video[-2:], str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


def make_app(hub: Hub, settings: WebRtcSettings = LOOPBACK) -> web.Application:
    app = web.Application()

    async def room_exists(slug: str) -> bool:
        return slug in ROOMS

    async def authorize(slug: str, key: str) -> bool:
        return key == KEY

    whip.setup_routes(app, hub, authorize, room_exists, settings=settings)
    whep.setup_routes(app, hub, room_exists, settings=settings)
    hls_http.setup_routes(app, hub, room_exists)
    return app


def client_pc() -> RTCPeerConnection:
    return new_peer_connection(LOOPBACK)


async def post_offer(http: aiohttp.ClientSession, url: str, sdp: str, key: str | None = None) -> tuple[int, str, Any]:
    headers = {"Content-Type": "application/sdp"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    async with http.post(url, data=sdp, headers=headers) as answer:
        return answer.status, await answer.text(), answer.headers


@dataclass
class Publisher:
    """An aiortc WHIP client playing a file without decoding it (MediaPlayer decode=False)."""

    pc: RTCPeerConnection
    player: MediaPlayer
    location: str = ""

    @classmethod
    async def offer(cls, source: Path, *, audio: bool = True, video: bool = True) -> tuple[Publisher, str]:
        pc = client_pc()
        player = MediaPlayer(str(source), decode=False)
        if video and player.video is not None:
            pc.addTrack(player.video)
        if audio and player.audio is not None:
            pc.addTrack(player.audio)
        apply_ice_policy(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createOffer())
        return cls(pc, player), pc.localDescription.sdp

    async def publish(self, http: aiohttp.ClientSession, base: str, slug: str, key: str = KEY) -> tuple[int, str, Any]:
        status, body, headers = await post_offer(http, f"{base}/whip/{slug}", self.pc.localDescription.sdp, key)
        if status == 201:
            self.location = headers["Location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        return status, body, headers

    async def close(self) -> None:
        for sender in self.pc.getSenders():
            if sender.track is not None:
                sender.track.stop()
        await self.pc.close()


@dataclass
class Viewer:
    """An aiortc WHEP client that decodes what it gets and counts frames."""

    pc: RTCPeerConnection
    video_frames: int = 0
    audio_frames: int = 0
    sizes: set[tuple[int, int]] = field(default_factory=set)
    audio_rates: set[int] = field(default_factory=set)
    location: str = ""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def watch(cls, http: aiohttp.ClientSession, base: str, slug: str,
                    *, audio: bool = True, token: str | None = None) -> tuple[Viewer, int, str]:
        pc = client_pc()
        viewer = cls(pc)
        pc.addTransceiver("video", direction="recvonly")
        if audio:
            pc.addTransceiver("audio", direction="recvonly")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            viewer._tasks.append(asyncio.ensure_future(viewer._consume(track)))

        apply_ice_policy(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createOffer())
        status, body, headers = await post_offer(http, f"{base}/whep/{slug}", pc.localDescription.sdp, token)
        if status == 201:
            viewer.location = headers["Location"]
            await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        return viewer, status, body

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    self.video_frames += 1
                    self.sizes.add((frame.width, frame.height))
                elif isinstance(frame, av.AudioFrame):
                    self.audio_frames += 1
                    self.audio_rates.add(frame.sample_rate)

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def wait_for(predicate: Any, timeout: float = 20.0, step: float = 0.05) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
