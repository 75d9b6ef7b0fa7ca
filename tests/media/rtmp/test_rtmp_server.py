"""The asyncio ingest server with real peers: ffmpeg as OBS, hostile raw sockets."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from media.rtmp.chunk import ChunkEncoder, Message
from media.rtmp.client import RtmpPublisher
from media.rtmp.errors import ConnectionClosedError, RefusedError
from media.rtmp.handshake import SIG_SIZE
from media.rtmp.server import Refusal, RtmpServer, ServerConfig
from media.rtmp.units import AudioConfig, MediaUnit, Metadata, PublishEvent, VideoConfig
from media.throttle import FailureThrottle
from tests.support.wait import eventually

from .peers import ffmpeg_publish_args, run

KEY = "s3cret-key"


class Recorder:
    """A PublishSession that keeps everything."""

    def __init__(self) -> None:
        self.metadata: list[Metadata] = []
        self.video_configs: list[VideoConfig] = []
        self.audio_configs: list[AudioConfig] = []
        self.video: list[MediaUnit] = []
        self.audio: list[MediaUnit] = []
        self.unpublished: list[str] = []

    def on_event(self, event: PublishEvent) -> None:
        if isinstance(event, Metadata):
            self.metadata.append(event)
        elif isinstance(event, VideoConfig):
            self.video_configs.append(event)
        elif isinstance(event, AudioConfig):
            self.audio_configs.append(event)
        elif isinstance(event, MediaUnit):
            (self.video if event.track == "video" else self.audio).append(event)
        else:
            self.unpublished.append(event.reason)


class Handler:
    def __init__(self) -> None:
        self.sessions: list[Recorder] = []
        self.asked: list[tuple[str, str]] = []

    async def authorize(self, app: str, stream_key: str, peer: str) -> Recorder | Refusal:
        self.asked.append((app, stream_key))
        if app != "live" or stream_key != KEY:
            return Refusal()
        self.sessions.append(Recorder())
        return self.sessions[-1]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def server() -> AsyncIterator[RtmpServer]:
    srv = RtmpServer(Handler(), ServerConfig(handshake_timeout=3.0, max_pending=40))
    await srv.start("127.0.0.1", 0)
    yield srv
    await srv.close()


def handler_of(server: RtmpServer) -> Handler:
    assert isinstance(server.handler, Handler)
    return server.handler


def assert_good_publish(rec: Recorder, seconds: float) -> None:
    assert rec.metadata and rec.metadata[0].values["width"] == 640.0
    assert rec.video_configs[0].codec == "h264"
    assert rec.video_configs[0].sps[0][0] & 0x1F == 7 and rec.video_configs[0].sps[0][1] == 100
    assert rec.video_configs[0].pps[0][0] & 0x1F == 8
    assert rec.audio_configs[0].sample_rate == 44100 and rec.audio_configs[0].object_type == 2
    assert rec.video[0].keyframe
    assert sum(u.keyframe for u in rec.video) >= int(seconds)
    dts = [u.dts_ms for u in rec.video]
    assert dts == sorted(dts) and len(rec.video) >= 25 * seconds
    assert [u.dts_ms for u in rec.audio] == sorted(u.dts_ms for u in rec.audio)
    assert all(u.pts_ms >= u.dts_ms for u in rec.video)
    assert rec.unpublished == ["unpublished"]


async def test_ffmpeg_publishes_like_obs(server: RtmpServer) -> None:
    publishes = metric("nal_rtmp_publishes_total")
    publishing = metric("nal_rtmp_connections", state="publishing")
    code, out = await run(ffmpeg_publish_args(f"rtmp://127.0.0.1:{server.port}/live/{KEY}", 3), 60)
    assert code == 0, out
    await eventually(lambda: handler_of(server).sessions[0].unpublished and server.connections == 0)
    assert_good_publish(handler_of(server).sessions[0], 3)
    assert metric("nal_rtmp_publishes_total") == publishes + 1
    assert server.stats.protocol_errors == {}
    assert server.connections == 0
    assert metric("nal_rtmp_connections", state="publishing") == publishing


async def test_wrong_key_is_refused_and_counted(server: RtmpServer) -> None:
    before = metric("nal_rtmp_rejected_total", reason="bad_key")
    url = f"rtmp://127.0.0.1:{server.port}/live/wrong-key"
    code, out = await run(ffmpeg_publish_args(url, 1), 30)
    assert code != 0
    assert "Invalid stream key" in out
    assert server.stats.rejected == {"bad_key": 1}
    assert metric("nal_rtmp_rejected_total", reason="bad_key") == before + 1
    assert handler_of(server).sessions == []


async def test_repeated_failures_are_throttled() -> None:
    server = RtmpServer(Handler(), throttle=FailureThrottle(max_failures=2, block_s=60))
    await server.start("127.0.0.1", 0)
    try:
        for _ in range(2):
            pub = RtmpPublisher(f"rtmp://127.0.0.1:{server.port}/live/bad", timeout=5)
            with pytest.raises(RefusedError):
                await pub.connect()
            await pub.close()
        pub = RtmpPublisher(f"rtmp://127.0.0.1:{server.port}/live/{KEY}", timeout=5)
        with pytest.raises((ConnectionClosedError, ConnectionError)):
            await pub.connect()
        await pub.close()
    finally:
        await server.close()
    assert server.stats.rejected == {"bad_key": 2, "throttled": 1}
    assert handler_of(server).asked == [("live", "bad"), ("live", "bad")]


async def test_a_right_key_does_not_reset_the_count_of_wrong_ones() -> None:
    """A guesser with a room of their own publishes with their own key between guesses: the
    wrong keys still add up, and the address is throttled on the second one."""
    server = RtmpServer(Handler(), throttle=FailureThrottle(max_failures=2, block_s=60))
    await server.start("127.0.0.1", 0)
    try:
        for key in ("bad", KEY, "bad"):
            pub = RtmpPublisher(f"rtmp://127.0.0.1:{server.port}/live/{key}", timeout=5)
            if key == KEY:
                await pub.connect()
            else:
                with pytest.raises(RefusedError):
                    await pub.connect()
            await pub.close()
        assert server.throttle.is_blocked("127.0.0.1", "*", asyncio.get_running_loop().time())
    finally:
        await server.close()
    assert server.stats.rejected == {"bad_key": 2}


async def _closed_by_server(reader: asyncio.StreamReader, timeout: float = 5.0) -> bool:
    """True if the server closed the connection (end of stream or reset) within ``timeout``,
    False if it was still open then."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def _handshaken(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x03" + bytes(SIG_SIZE))
    await reader.readexactly(1 + 2 * SIG_SIZE)
    writer.write(bytes(SIG_SIZE))
    return reader, writer


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_hostile_clients_do_not_hurt(server: RtmpServer) -> None:
    port = server.port
    rss_before = rss_kib()
    # Garbage instead of a handshake.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await _closed_by_server(reader), "a garbage handshake was left open"
    writer.close()
    # An enormous chunk size.
    reader, writer = await _handshaken(port)
    writer.write(ChunkEncoder().encode(Message(2, 1, 0, 0, (0x7FFFFFFF).to_bytes(4, "big"))))
    assert await _closed_by_server(reader), "an enormous chunk size was left open"
    writer.close()
    # A 16 MB message length, trickled in byte by byte.
    reader, writer = await _handshaken(port)
    header = bytes.fromhex("06 000000 ffffff 09 01000000")
    for i in range(len(header)):
        writer.write(header[i : i + 1])
        await writer.drain()
        await asyncio.sleep(0.01)
    assert await _closed_by_server(reader), "a 16 MB message was left open"
    writer.close()
    assert server.stats.protocol_errors == {
        "handshake": 1,
        "chunk_size": 1,
        "message_too_large": 1,
    }
    # Two hundred stalled handshakes: only max_pending stay, the oldest go first.
    stalled = []
    accepted = server.stats.accepted
    for _ in range(200):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"\x03" + bytes(100))  # C0 and a sliver of C1, then silence
        stalled.append((r, w))
    await eventually(lambda: server.stats.accepted == accepted + 200, what="all 200 accepted")
    assert server.connections <= 40
    assert server.stats.rejected.get("pending_evicted", 0) >= 160
    assert server.buffered_bytes() <= 40 * (1 + SIG_SIZE)
    # A real publisher still gets through while they hang on.
    code, out = await run(ffmpeg_publish_args(f"rtmp://127.0.0.1:{port}/live/{KEY}", 2), 60)
    assert code == 0, out
    await eventually(lambda: handler_of(server).sessions[0].unpublished)
    assert_good_publish(handler_of(server).sessions[0], 2)
    # The stalled ones are closed by the unauthenticated time limit.
    await eventually(lambda: server.connections == 0, what="stalled handshakes timed out")
    assert server.stats.rejected.get("handshake_timeout", 0) >= 1
    for _, w in stalled:
        w.close()
    assert rss_kib() - rss_before < 64 * 1024
