"""The publisher client: Sans-I/O against our server session, asyncio against nginx-rtmp."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from media.rtmp.client import RtmpPublisher, RtmpUrl
from media.rtmp.client_session import ClientSession, PublishStarted, Refused, State
from media.rtmp.errors import InvalidStateError, RefusedError, UsageError
from media.rtmp.server import Refusal, RtmpServer
from media.rtmp.server_session import Connected, PublishRequested, ServerSession, Unpublished
from media.rtmp.server_session import State as ServerState
from media.rtmp.units import AudioConfig, MediaUnit, Metadata, VideoConfig

from .peers import ffprobe_streams, load_events, make_flv, nginx_rtmp

SAMPLE = Path(__file__).parents[2] / "data" / "rtmp" / "h264_aac_1s.flv"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtmp://h/live/k", RtmpUrl("rtmp", "h", 1935, "live", "k")),
        ("rtmps://h:8443/live2/a/b?x=1", RtmpUrl("rtmps", "h", 8443, "live2", "a/b?x=1")),
    ],
)
def test_url(url: str, expected: RtmpUrl) -> None:
    assert RtmpUrl.parse(url) == expected


@pytest.mark.parametrize("url", ["http://h/live/k", "rtmp://h/live", "rtmp:///live/k"])
def test_bad_url(url: str) -> None:
    with pytest.raises(UsageError):
        RtmpUrl.parse(url)


def pump(client: ClientSession, server: ServerSession, accept: bool = True) -> list[Any]:
    """Shuttle bytes both ways until quiet; return the server's events."""
    events: list[Any] = []
    for _ in range(20):
        c2s = client.data_to_send()
        for ev in server.receive_data(c2s):
            events.append(ev)
            if isinstance(ev, PublishRequested):
                if accept:
                    events += server.accept_publish()
                else:
                    server.reject_publish()
        s2c = server.data_to_send()
        events += [("client", e) for e in client.receive_data(s2c)]
        if not c2s and not s2c:
            break
    return events


def test_client_and_server_sessions_in_memory() -> None:
    client = ClientSession("live", "key1", "rtmp://h:1935/live", random_bytes=bytes)
    server = ServerSession(random_bytes=bytes)
    with pytest.raises(InvalidStateError):
        client.send_metadata({})
    client.initiate()
    events = pump(client, server)
    assert events == [
        Connected("live", "rtmp://h:1935/live", "FMLE/3.0 (compatible; notalabel)"),
        PublishRequested("live", "key1", 1, "live"),
        ("client", PublishStarted(1)),
    ]
    sent = load_events(SAMPLE)
    client.send_metadata({"width": 160.0})
    for ev in sent:
        if isinstance(ev, VideoConfig):
            client.send_video_config(ev)
        elif isinstance(ev, AudioConfig):
            client.send_audio_config(ev)
        elif ev.track == "video":
            client.send_video(ev)
        else:
            client.send_audio(ev)
    client.unpublish()
    got = pump(client, server)
    assert got[0] == Metadata({"width": 160.0})
    assert got[1:-1] == sent  # byte-exact configs and units, same timestamps
    assert got[-1] == Unpublished("key1")
    assert client.state is State.DONE


def test_client_sees_refusal() -> None:
    client = ClientSession("live", "nope", "rtmp://h/live", random_bytes=bytes)
    server = ServerSession(random_bytes=bytes)
    client.initiate()
    events = pump(client, server, accept=False)
    assert events[-1] == ("client", Refused("NetStream.Publish.BadName", "Invalid stream key."))
    assert client.state is State.FAILED


class _Refuser:
    async def authorize(self, app: str, stream_key: str, peer: str) -> Refusal:
        return Refusal("bad_key", "NetStream.Publish.Unauthorized", "no such room")


async def test_publisher_raises_the_servers_reason() -> None:
    server = RtmpServer(_Refuser())
    await server.start("127.0.0.1", 0)
    try:
        publisher = RtmpPublisher(f"rtmp://127.0.0.1:{server.port}/live/wrong")
        with pytest.raises(RefusedError) as info:
            await publisher.connect()
        assert info.value.code == "NetStream.Publish.Unauthorized"
        assert info.value.description == "no such room"
        await publisher.close()
    finally:
        await server.close()
    assert server.stats.rejected == {"bad_key": 1}


async def _feed_paced(publisher: RtmpPublisher, events: list[Any]) -> None:
    start = time.monotonic()
    for ev in events:
        if isinstance(ev, VideoConfig):
            publisher.send_video_config(ev)
        elif isinstance(ev, AudioConfig):
            publisher.send_audio_config(ev)
        else:
            assert isinstance(ev, MediaUnit)
            delay = ev.dts_ms / 1000 - (time.monotonic() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            (publisher.send_video if ev.track == "video" else publisher.send_audio)(ev)


async def test_publish_to_nginx_rtmp_and_ffprobe_reads_it_back(tmp_path: Path) -> None:
    await make_flv(tmp_path / "show.flv", 4)
    events = load_events(tmp_path / "show.flv")
    async with nginx_rtmp(tmp_path) as port:
        publisher = RtmpPublisher(f"rtmp://127.0.0.1:{port}/live/x")
        await publisher.connect()
        publisher.send_metadata({"width": 320.0, "height": 180.0, "framerate": 30.0})
        feeding = asyncio.create_task(_feed_paced(publisher, events))
        try:
            await asyncio.sleep(0.3)
            streams = await ffprobe_streams(f"rtmp://127.0.0.1:{port}/live/x")
        finally:
            await feeding
            await publisher.close()
    by_type = {s["codec_type"]: s for s in streams}
    assert by_type["video"]["codec_name"] == "h264"
    assert (by_type["video"]["width"], by_type["video"]["height"]) == (320, 180)
    assert by_type["video"]["profile"] == "High"
    assert by_type["audio"]["codec_name"] == "aac"
    assert by_type["audio"]["sample_rate"] == "44100"
    assert publisher.dropped_units == 0 and publisher.bytes_sent > 100_000


async def test_slow_server_makes_the_publisher_drop_to_the_next_keyframe() -> None:
    stop = asyncio.Event()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ServerSession()
        while session.state is not ServerState.PUBLISHING:
            data = await reader.read(65536)
            if not data:
                return
            for ev in session.receive_data(data):
                if isinstance(ev, PublishRequested):
                    session.accept_publish()
            writer.write(session.data_to_send())
        await stop.wait()  # then never read again: a stalled ingest
        writer.close()

    listener = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    publisher = RtmpPublisher(f"rtmp://127.0.0.1:{port}/live/k", max_buffer=64 * 1024)
    await publisher.connect()
    payload = (100_000).to_bytes(4, "big") + bytes(100_000)
    accepted: list[bool | None] = []
    high_water = 0
    for i in range(600):
        unit = MediaUnit("video", "h264", i * 33, i * 33, i % 10 == 0, payload)
        if publisher.send_video(unit):
            accepted.append(unit.keyframe)
        else:
            accepted.append(None)
        high_water = max(high_water, publisher.buffered)
        if i % 50 == 0:
            await asyncio.sleep(0)
    assert publisher.dropped_units > 0
    assert high_water <= 64 * 1024 + len(payload) + 64
    for before, after in zip(accepted, accepted[1:], strict=False):
        if before is None and after is not None:
            assert after is True  # the first unit after a drop is a keyframe
    stop.set()
    await publisher.close()
    listener.close()
    await listener.wait_closed()
