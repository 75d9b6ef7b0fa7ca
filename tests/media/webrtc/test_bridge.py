"""The AAC->Opus bridge as the hub runs it: real AAC from ffmpeg in, real Opus out, started
with the first reader of derived Opus and stopped with the last."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from media.errors import StreamEnded
from media.hub import Hub, Stream
from media.reader import Reader
from media.units import Codec, Track, TrackKind, Unit
from media.webrtc.bridge import register

READ_GUARD_S = 30.0  # only against a hang; nothing here is timed


@dataclass(frozen=True)
class Aac:
    track: Track
    frames: list[Unit]


def _aac(path: Path, rate: int, channels: int) -> Aac:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=440:sample_rate={rate}:duration=1", "-ac", str(channels),
         "-c:a", "aac", "-b:a", "96k", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        config = bytes(stream.codec_context.extradata or b"")
        frames = [
            Unit(2, TrackKind.AUDIO, pts, pts, True, bytes(packet))
            for packet in container.demux(stream)
            if packet.size and packet.pts is not None and packet.time_base is not None
            for pts in [int(packet.pts * packet.time_base * 90_000)]
        ]
    return Aac(Track.aac(2, config), frames)


@pytest.fixture(scope="module")
def aac(tmp_path_factory: pytest.TempPathFactory) -> tuple[Aac, Aac]:
    """One second of 48 kHz stereo AAC and one of 44.1 kHz mono (another configuration)."""
    tmp = tmp_path_factory.mktemp("aac")
    return _aac(tmp / "stereo.m4a", 48_000, 2), _aac(tmp / "mono.m4a", 44_100, 1)


def bridges(stream: Stream) -> int:
    return sum(1 for reader in stream.readers if reader.kind == "opus-bridge")


async def read_opus(reader: Reader, count: int) -> list[Unit]:
    """``count`` units from a reader of derived Opus, each checked to decode as Opus."""
    decoder = av.CodecContext.create("libopus", "r")
    units = []
    async with asyncio.timeout(READ_GUARD_S):
        while len(units) < count:
            item = await reader.read()
            assert isinstance(item, Unit)
            assert [f.samples for f in decoder.decode(av.Packet(item.payload))] == [960]  # 20 ms
            units.append(item)
    return units


async def test_the_bridge_starts_with_the_first_opus_reader_and_stops_with_the_last(
    aac: tuple[Aac, Aac],
) -> None:
    stereo, _ = aac
    hub = Hub()
    register(hub)
    publication = hub.publish("room", "rtmp", [stereo.track])
    stream = publication.stream
    hls = stream.add_reader("hls")
    assert bridges(stream) == 0  # nobody asks for Opus
    first = stream.add_reader("whep-audio", derived=Codec.OPUS)
    assert bridges(stream) == 1
    second = stream.add_reader("whep-audio", derived=Codec.OPUS)
    assert bridges(stream) == 1  # one bridge for every reader
    for frame in stereo.frames:
        publication.write(frame)
    got = await read_opus(first, 20)
    assert await read_opus(second, 20) == got  # the same units, made once
    assert [b.pts - a.pts for a, b in zip(got, got[1:], strict=False)] == [1800] * 19
    first.close()
    assert bridges(stream) == 1
    second.close()
    assert bridges(stream) == 0
    assert [r.kind for r in stream.readers] == ["hls"] and hls.drops == 0
    hub.close()


async def test_a_publisher_with_its_own_opus_gets_no_bridge(aac: tuple[Aac, Aac]) -> None:
    stereo, _ = aac
    hub = Hub()
    register(hub)
    whip = hub.publish("room", "whip", [stereo.track], derived=[Codec.OPUS], takeover_after=0.0)
    reader = whip.stream.add_reader("whep-audio", derived=Codec.OPUS)
    assert bridges(whip.stream) == 0
    rtmp = hub.publish("room", "rtmp", [stereo.track], takeover_after=0.0)  # an AAC-only successor
    assert bridges(rtmp.stream) == 1  # ... is bridged for the reader already there
    for frame in stereo.frames:
        rtmp.write(frame)
    assert len(await read_opus(reader, 10)) == 10
    again = hub.publish("room", "whip", [stereo.track], derived=[Codec.OPUS], takeover_after=0.0)
    assert bridges(again.stream) == 0
    hub.close()


async def test_the_bridge_survives_a_reconnect_with_new_aac_and_ends_with_the_stream(
    aac: tuple[Aac, Aac],
) -> None:
    stereo, mono = aac
    hub = Hub(reconnect_grace=60.0)
    register(hub)
    first = hub.publish("room", "rtmp:a", [stereo.track])
    reader = first.stream.add_reader("whep-audio", derived=Codec.OPUS)
    for frame in stereo.frames:
        first.write(frame)
    before = await read_opus(reader, 10)
    first.end()  # the publisher dropped; its stream waits for it
    assert bridges(first.stream) == 1
    second = hub.publish("room", "rtmp:a", [mono.track])  # back, with another configuration
    assert second.stream is first.stream and bridges(second.stream) == 1
    for frame in mono.frames:
        second.write(frame)
    last, after = before[-1].pts, []
    while not after:  # past what the first session's frames still made, to the new timeline
        unit = (await read_opus(reader, 1))[0]
        if unit.pts < last:
            after.append(unit)
        last = unit.pts
    after += await read_opus(reader, 9)
    assert [b.pts - a.pts for a, b in zip(after, after[1:], strict=False)] == [1800] * 9
    second.stop()
    assert bridges(second.stream) == 0 and second.stream.readers == ()
    with pytest.raises(StreamEnded):
        while True:
            await reader.read()
