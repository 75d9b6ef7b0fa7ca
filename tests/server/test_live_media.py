"""End to end through a real ``notalabel serve`` process: ffmpeg publishes over RTMP the way
OBS does, ffprobe (a real HLS client) reads the LL-HLS the server makes of it.

Covered: H.264 High profile with and without B-frames at 720p30 and 1080p60 with AAC,
video only, audio only (codecs, picture size, frame rate and per-stream monotonic
timestamps from ``ffprobe -show_packets``); a publisher that drops and comes back with the
same key within the grace period (same playlist, EXT-X-DISCONTINUITY, media sequence goes
on); a publisher gone silent with its connection open, replaced by the same key; a second
publisher on a live key (refused, the first keeps going).

One server process serves the whole module; each test makes its own room.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.support.servers import ServerProcess

PASSWORD = "correct horse battery"
FFMPEG_TIMEOUT = 60
FFPROBE_TIMEOUT = 60
PROBE_SECONDS = 3.0
TAKEOVER_AFTER = 2.0  # media.rtmp.to_hub.HubIngest: a publisher silent this long may be replaced


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("live-media"), {})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass(frozen=True)
class Room:
    slug: str
    stream_key: str


async def make_room(http: aiohttp.ClientSession, base: str) -> Room:
    """A new performer account and a room of theirs."""
    user = "perf" + uuid.uuid4().hex[:8]
    r = await http.post(f"{base}/api/accounts", json={"username": user, "password": PASSWORD})
    assert r.status == 201, await r.text()
    r = await http.post(f"{base}/api/sessions", json={"username": user, "password": PASSWORD})
    token = (await r.json())["token"]
    http.cookie_jar.clear()
    r = await http.post(f"{base}/api/rooms", json={"title": "Live media"},
                        headers={"Authorization": f"Bearer {token}"})
    assert r.status == 201, await r.text()
    room = await r.json()
    return Room(room["slug"], room["stream_key"])


@dataclass(frozen=True)
class Encode:
    """What ffmpeg sends, as OBS would: H.264 (x264, High profile) and AAC in FLV over RTMP."""

    size: str = "1280x720"
    rate: int = 30
    bframes: int = 0
    video: bool = True
    audio: bool = True
    seconds: float = 5.0

    @property
    def width(self) -> int:
        return int(self.size.split("x")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("x")[1])

    def args(self, url: str) -> list[str]:
        # smptebars is the cheapest lavfi picture: 1080p60 must keep up with -re on 2 cores.
        # ultrafast turns off CABAC and 8x8 transforms (Constrained Baseline); turn them back
        # on so the stream really is High profile, as OBS sends it.
        args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re"]
        if self.video:
            args += ["-f", "lavfi", "-i", f"smptebars=size={self.size}:rate={self.rate}"]
        if self.audio:
            args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        if self.video:
            args += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                     "-x264-params", "8x8dct=1:cabac=1", "-profile:v", "high",
                     "-bf", str(self.bframes), "-g", str(self.rate), "-pix_fmt", "yuv420p"]
        if self.audio:
            args += ["-c:a", "aac", "-b:a", "128k"]
        return args + ["-t", str(self.seconds), "-f", "flv", url]


class Publisher:
    """An ffmpeg process publishing to the server; always reaped."""

    def __init__(self, encode: Encode, url: str) -> None:
        self.proc = subprocess.Popen(encode.args(url), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)

    def wait(self, timeout: float = FFMPEG_TIMEOUT) -> tuple[int, str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def publishers() -> Iterator[list[Publisher]]:
    started: list[Publisher] = []
    yield started
    for publisher in started:
        publisher.kill()


def publish(started: list[Publisher], server: ServerProcess, room: Room, encode: Encode) -> Publisher:
    publisher = Publisher(encode, f"{server.rtmp_url}/{room.stream_key}")
    started.append(publisher)
    return publisher


async def ffprobe(url: str, seconds: float = PROBE_SECONDS) -> dict[str, Any]:
    """Read the live playlist from its first listed segment for ``seconds`` of media."""
    process = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-rw_timeout", "15000000", "-live_start_index", "0",
        "-read_intervals", f"%+{seconds}", "-show_streams", "-show_packets", "-of", "json", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), FFPROBE_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


async def playlist(http: aiohttp.ClientSession, url: str) -> str:
    r = await http.get(url)
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    return await r.text()


async def wait_for_playlist(http: aiohttp.ClientSession, url: str, segments: int = 1,
                            after_discontinuity: bool = False, timeout: float = 30.0) -> str:
    """Poll until the playlist lists ``segments`` complete segments (after the last
    EXT-X-DISCONTINUITY when asked)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    text = ""
    while loop.time() < deadline:
        r = await http.get(url)
        if r.status == 200:
            text = await r.text()
            tail = text.rsplit("#EXT-X-DISCONTINUITY\n", 1)
            if after_discontinuity and len(tail) < 2:
                tail = [""]
            if tail[-1].count("#EXTINF:") >= segments:
                return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"playlist {url} did not reach {segments} segments:\n{text}")


async def stream_state(http: aiohttp.ClientSession, server: ServerProcess, room: Room) -> dict[str, Any]:
    r = await http.get(f"{server.url}/api/rooms/{room.slug}/stream")
    assert r.status == 200
    state: dict[str, Any] = await r.json()
    return state


async def wait_for_state(http: aiohttp.ClientSession, server: ServerProcess, room: Room,
                         wanted: str, timeout: float = 20.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    state: dict[str, Any] = {}
    while loop.time() < deadline:
        state = await stream_state(http, server, room)
        if state["state"] == wanted:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"stream never became {wanted}: {state}")


def seconds(value: str, time_base: str) -> float:
    num, den = time_base.split("/")
    return int(value) * int(num) / int(den)


def check_packets(result: dict[str, Any], stream: dict[str, Any]) -> list[float]:
    """Per-stream dts strictly increase and pts never repeat; returns dts in seconds."""
    packets = [p for p in result["packets"] if p["stream_index"] == stream["index"]]
    assert packets, f"no packets for {stream['codec_type']}"
    dts = [int(p["dts"]) for p in packets]
    pts = [int(p["pts"]) for p in packets]
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False)), dts
    repeated = sorted(p for p in set(pts) if pts.count(p) > 1)
    assert not repeated, (stream["codec_type"], repeated,
                          " ".join(f"{d}/{p}" for d, p in zip(dts, pts, strict=True)))
    assert all(p >= d for p, d in zip(pts, dts, strict=True))
    return [seconds(str(d), stream["time_base"]) for d in dts]


def media_sequence(text: str) -> int:
    match = re.search(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", text, re.M)
    assert match, text
    return int(match[1])


def segment_uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


CASES = [
    pytest.param(Encode("1280x720", 30, bframes=0), id="720p30-high-no-bframes"),
    pytest.param(Encode("1280x720", 30, bframes=2), id="720p30-high-bframes"),
    pytest.param(Encode("1920x1080", 60, bframes=0), id="1080p60-high-no-bframes"),
    pytest.param(Encode("1920x1080", 60, bframes=2), id="1080p60-high-bframes"),
    pytest.param(Encode("1280x720", 30, bframes=2, audio=False), id="video-only"),
    pytest.param(Encode(video=False), id="audio-only"),
]


@pytest.mark.parametrize("encode", CASES)
async def test_ffprobe_reads_what_ffmpeg_published(
    live_server: ServerProcess, http: aiohttp.ClientSession, publishers: list[Publisher],
    encode: Encode,
) -> None:
    room = await make_room(http, live_server.url)
    url = f"{live_server.url}/live/{room.slug}/index.m3u8"
    publisher = publish(publishers, live_server, room, encode)
    await wait_for_playlist(http, url)
    result = await ffprobe(url)
    code, err = await asyncio.to_thread(publisher.wait)
    assert code == 0, err

    streams = {s["codec_type"]: s for s in result["streams"]}
    assert set(streams) == {kind for kind, on in (("video", encode.video),
                                                  ("audio", encode.audio)) if on}
    if encode.video:
        video = streams["video"]
        assert (video["codec_name"], video["profile"]) == ("h264", "High")
        assert (video["width"], video["height"]) == (encode.width, encode.height)
        assert (video["has_b_frames"] > 0) == (encode.bframes > 0)
        dts = check_packets(result, video)
        assert len(dts) >= encode.rate * (PROBE_SECONDS - 1)
        step = statistics.median(b - a for a, b in zip(dts, dts[1:], strict=False))
        assert step == pytest.approx(1 / encode.rate, rel=0.05)
    if encode.audio:
        audio = streams["audio"]
        assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "48000", 1)
        dts = check_packets(result, audio)
        assert len(dts) >= 48000 / 1024 * (PROBE_SECONDS - 1)
        step = statistics.median(b - a for a, b in zip(dts, dts[1:], strict=False))
        assert step == pytest.approx(1024 / 48000, rel=0.05)

    state = await stream_state(http, live_server, room)
    assert state["state"] in ("live", "reconnecting")
    assert state["video_codec"] == ("h264" if encode.video else None)
    assert state["audio_codec"] == ("aac" if encode.audio else None)
    if encode.video:
        assert (state["width"], state["height"]) == (encode.width, encode.height)


async def test_publisher_reconnecting_keeps_viewers_on_the_same_playlist(
    live_server: ServerProcess, http: aiohttp.ClientSession, publishers: list[Publisher],
) -> None:
    room = await make_room(http, live_server.url)
    url = f"{live_server.url}/live/{room.slug}/index.m3u8"
    encode = Encode("640x360", 30, bframes=2, seconds=30)
    first = publish(publishers, live_server, room, encode)
    before = await wait_for_playlist(http, url, segments=3)
    assert "#EXT-X-DISCONTINUITY\n" not in before
    assert (await stream_state(http, live_server, room))["session"] == 1

    first.kill()  # the encoder dies: no FCUnpublish, only the TCP connection closes
    await wait_for_state(http, live_server, room, "reconnecting")
    during = await playlist(http, url)  # viewers still get the playlist while it waits
    assert media_sequence(during) >= media_sequence(before)

    publish(publishers, live_server, room, encode)
    state = await wait_for_state(http, live_server, room, "live")
    assert state["session"] == 2
    after = await wait_for_playlist(http, url, segments=2, after_discontinuity=True)

    assert after.count("#EXT-X-DISCONTINUITY\n") == 1
    assert media_sequence(after) >= media_sequence(before)
    old, new = segment_uris(before), segment_uris(after)
    prefix = old[0].split("seg-")[0]
    assert all(uri.startswith(prefix) for uri in new)  # the same stream instance
    msns = [int(uri.rsplit("-", 1)[1].split(".")[0]) for uri in new]
    assert msns == list(range(msns[0], msns[0] + len(msns)))  # the sequence goes on
    assert msns[-1] > int(old[-1].rsplit("-", 1)[1].split(".")[0])
    head, tail = after.split("#EXT-X-DISCONTINUITY\n")
    assert tail.startswith("#EXT-X-MAP:")  # the new session brings its own init segment
    assert set(segment_uris(head)) & set(old)  # what viewers had is still listed

    # A player reading across the discontinuity sees one monotonic timeline.
    result = await ffprobe(url, seconds=5)
    for stream in result["streams"]:
        check_packets(result, stream)


async def test_a_silent_publisher_is_replaced_by_the_same_key(
    live_server: ServerProcess, http: aiohttp.ClientSession, publishers: list[Publisher],
) -> None:
    """The encoder hangs with its TCP connection open (OBS on a frozen machine); the
    performer restarts it with the same key: the new session takes over the room."""
    room = await make_room(http, live_server.url)
    url = f"{live_server.url}/live/{room.slug}/index.m3u8"
    encode = Encode("640x360", 30, seconds=30)
    first = publish(publishers, live_server, room, encode)
    before = await wait_for_playlist(http, url, segments=2)

    os.kill(first.proc.pid, signal.SIGSTOP)  # silent, but its connection stays open
    await asyncio.sleep(TAKEOVER_AFTER + 0.5)
    publish(publishers, live_server, room, encode)
    after = await wait_for_playlist(http, url, segments=2, after_discontinuity=True)

    state = await stream_state(http, live_server, room)
    assert (state["state"], state["session"]) == ("live", 2)
    assert segment_uris(after)[0].split("seg-")[0] == segment_uris(before)[0].split("seg-")[0]
    assert media_sequence(after) >= media_sequence(before)
    first.kill()


async def test_second_publisher_is_refused_while_the_first_is_live(
    live_server: ServerProcess, http: aiohttp.ClientSession, publishers: list[Publisher],
) -> None:
    room = await make_room(http, live_server.url)
    url = f"{live_server.url}/live/{room.slug}/index.m3u8"
    first = publish(publishers, live_server, room, Encode("640x360", 30, seconds=20))
    before = await wait_for_playlist(http, url, segments=1)

    second = publish(publishers, live_server, room, Encode("640x360", 30, seconds=5))
    code, err = await asyncio.to_thread(second.wait)
    assert code != 0
    assert first.proc.poll() is None  # the first publisher was not disturbed

    state = await stream_state(http, live_server, room)
    assert (state["state"], state["session"]) == ("live", 1)
    newest = segment_uris(before)[-1]
    after = await wait_for_playlist(http, url, segments=len(segment_uris(before)) + 1)
    assert segment_uris(after)[-1] != newest
    metrics = await (await http.get(f"{live_server.url}/metrics")).text()
    assert re.search(r'nal_rtmp_rejected_total\{reason="already_publishing"\} [1-9]', metrics)

