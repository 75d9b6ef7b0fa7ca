"""Janus as the WebRTC reference of :mod:`loadtest.webrtc_viewers`: a network namespace of the
benchmark's own, Janus's streaming plugin in it fed over RTP, and a viewer for its HTTP API.

* **Installed from Debian** by the benchmark (``apt-get install janus``) when ``janus`` is
  missing; configured from the files in ``loadtest/janus_ref`` (only the streaming plugin and
  the HTTP transport are loaded, from folders of links the benchmark makes).
* **Its own network namespace.** Janus 1.1 gathers no ICE candidates on loopback interfaces,
  so it runs in a namespace the benchmark creates (``ip netns add``) joined to this one by a
  veth pair with addresses of the benchmark's own test network (:data:`HOST_ADDRESS` here,
  :data:`JANUS_ADDRESS` in the namespace). Nothing is routed further: every packet stays on
  the pair, inside this machine. The namespace and the pair are deleted at the end.
* **Fed the same media** as our server: ffmpeg encodes the same 720p30 H.264 at 2.5 Mbit/s and
  sends it with Opus over RTP to the mountpoint (ours gets it over RTMP with AAC, which our
  server bridges to Opus once per room).
* **The viewer** (:func:`janus_watch`) does what the streaming demo does: create a session,
  attach the plugin, ``watch`` the mountpoint, take Janus's offer, answer it from aiortc and
  ``start``. Its ICE gathers on :data:`HOST_ADDRESS` only.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

JANUS_REF = Path(__file__).resolve().parent / "janus_ref"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
HOST_ADDRESS = "10.231.77.1"
"""This side of the veth pair (the viewers' ICE address)."""
JANUS_ADDRESS = "10.231.77.2"
"""Janus's side, inside the namespace."""
HTTP_PORT = 8088
VIDEO_PORT, AUDIO_PORT = 5004, 5002
MOUNTPOINT = 1


def janus_version() -> str:
    """The installed Debian package's version, e.g. ``1.1.2-1``."""
    answer = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "janus"], capture_output=True, text=True)
    return answer.stdout.strip() or "unknown"


def ensure_janus() -> None:
    """Install Janus from Debian's packages if it is not there."""
    if shutil.which("janus") is not None:
        return
    print("installing janus from Debian ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-q", "janus"], check=True, env=env, timeout=600,
                   stdout=subprocess.DEVNULL)


@contextmanager
def namespace() -> Iterator[tuple[str, str]]:
    """A network namespace and a veth pair into it: yields (namespace, its interface)."""
    tag = secrets.token_hex(3)
    ns, outside, inside = f"nal-janus-{tag}", f"nalj{tag}a", f"nalj{tag}b"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, timeout=10)

    ip("netns", "add", ns)
    try:
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", ns)
        ip("addr", "add", f"{HOST_ADDRESS}/30", "dev", outside)
        ip("link", "set", outside, "up")
        ip("netns", "exec", ns, "ip", "addr", "add", f"{JANUS_ADDRESS}/30", "dev", inside)
        ip("netns", "exec", ns, "ip", "link", "set", inside, "up")
        ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, inside
    finally:
        subprocess.run(["ip", "link", "del", outside], timeout=10, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], timeout=10, capture_output=True)


def _render(workdir: Path, interface: str, event_loops: int) -> Path:
    configs, plugins, transports, empty = (workdir / d for d in ("conf", "plugins", "transports", "empty"))
    for folder in (configs, plugins, transports, empty):
        folder.mkdir(parents=True, exist_ok=True)
    (plugins / "libjanus_streaming.so").symlink_to(JANUS_LIB / "plugins" / "libjanus_streaming.so")
    (transports / "libjanus_http.so").symlink_to(JANUS_LIB / "transports" / "libjanus_http.so")
    values = {"CONFIGS": str(configs), "PLUGINS": str(plugins), "TRANSPORTS": str(transports), "EMPTY": str(empty),
              "EVENT_LOOPS": str(event_loops), "INTERFACE": interface, "ADDRESS": JANUS_ADDRESS,
              "HTTP_PORT": str(HTTP_PORT), "VIDEO_PORT": str(VIDEO_PORT), "AUDIO_PORT": str(AUDIO_PORT)}
    for template in JANUS_REF.glob("*.jcfg"):
        text = template.read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        (configs / template.name).write_text(text)
    return configs


@dataclass
class JanusProc:
    """Janus in its namespace, fed by ffmpeg, until :meth:`stop`."""

    proc: subprocess.Popen[bytes]
    feed: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://{JANUS_ADDRESS}:{HTTP_PORT}/janus"

    def stop(self) -> None:
        for proc in (self.feed, self.proc):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def feed_args(host: str) -> list[str]:
    """ffmpeg: 720p30 H.264 at 2.5 Mbit/s (as :func:`loadtest.webrtc_viewers.publish`, with the
    parameter sets in band) and Opus, over RTP to the mountpoint."""
    return ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60",
            "-profile:v", "baseline", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k",
            "-pix_fmt", "yuv420p", "-bsf:v", "dump_extra", "-payload_type", "96",
            "-f", "rtp", f"rtp://{host}:{VIDEO_PORT}?pkt_size=1200",
            "-map", "1:a", "-c:a", "libopus", "-b:a", "128k", "-payload_type", "111",
            "-f", "rtp", f"rtp://{host}:{AUDIO_PORT}"]  # fmt: skip


def start(ns: str, interface: str, event_loops: int = 0, workdir: Path | None = None) -> JanusProc:
    """Start Janus in ``ns`` (``event_loops`` 0: its default, a thread per handle) and its feed;
    returns once its HTTP API answers."""
    root = workdir or Path(tempfile.mkdtemp(prefix="nal-janus-"))
    configs = _render(root, interface, event_loops)
    log = root / "janus.log"
    with open(log, "ab") as out:
        # `ip netns exec` execs janus: the pid is Janus's own, for /proc CPU figures.
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "janus", "-F", str(configs)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"janus exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://{JANUS_ADDRESS}:{HTTP_PORT}/janus/info", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"janus did not answer in 30 s:\n{log.read_text(errors='replace')[-3000:]}") from None
            time.sleep(0.2)
    feed = subprocess.Popen(feed_args(JANUS_ADDRESS))
    return JanusProc(proc, feed, log)


async def _call(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    body = {**body, "transaction": secrets.token_hex(6)}
    async with http.post(url, json=body) as answer:
        reply: dict[str, Any] = await answer.json(content_type=None)
    if reply.get("janus") == "error":
        raise RuntimeError(f"janus: {reply.get('error')}")
    return reply


async def janus_watch(http: aiohttp.ClientSession, base: str, pc: RTCPeerConnection,
                      prepare: Any) -> None:
    """Watch the mountpoint on ``pc``: ``prepare(pc)`` runs once Janus's offer has made the
    transceivers (tap them, set the ICE policy there) and before the answer."""
    session = (await _call(http, base, {"janus": "create"}))["data"]["id"]
    handle = (await _call(http, f"{base}/{session}", {"janus": "attach", "plugin": "janus.plugin.streaming"}))["data"]["id"]
    await _call(http, f"{base}/{session}/{handle}",
                {"janus": "message", "body": {"request": "watch", "id": MOUNTPOINT}})
    offer: dict[str, Any] | None = None
    async with asyncio.timeout(20):
        while offer is None:
            async with http.get(f"{base}/{session}?maxev=1") as answer:
                event = await answer.json(content_type=None)
            if isinstance(event, dict) and "jsep" in event:
                offer = event["jsep"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type=offer["type"]))
    prepare(pc)
    await pc.setLocalDescription(await pc.createAnswer())
    await _call(http, f"{base}/{session}/{handle}",
                {"janus": "message", "body": {"request": "start"},
                 "jsep": {"type": "answer", "sdp": pc.localDescription.sdp}})
