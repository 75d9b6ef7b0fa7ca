"""The stream hub: publishing rules, reconnect grace, readers, GOP cache, state."""

from __future__ import annotations

import asyncio

import pytest

from media.errors import AlreadyPublishing, IllegalTransition, StreamEnded, UsageError
from media.hub import Hub, Stream, StreamEvent, StreamState
from media.units import StreamHeader, Track, TrackKind, Unit

# A 1280x720 High profile avcC and a 44.1 kHz mono AAC-LC AudioSpecificConfig, from ffmpeg.
AVCC = bytes.fromhex(
    "0164001fffe1001a6764001facd9405005bb0110000003001000000303c0f183196001000668ebe3cb22c0fdf8f800"
)
ASC = bytes.fromhex("1208")
VIDEO = Track.h264(1, AVCC)
AUDIO = Track.aac(2, ASC)


def video(n: int, keyframe: bool = False, size: int = 1000) -> Unit:
    return Unit(1, TrackKind.VIDEO, n * 3000, n * 3000, keyframe, bytes(size))


def audio(n: int) -> Unit:
    return Unit(2, TrackKind.AUDIO, n * 2090, n * 2090, True, bytes(200))


def drain(reader_items: list[object]) -> list[Unit]:
    return [item for item in reader_items if isinstance(item, Unit)]


def read_all(stream: Stream, reader: object) -> list[object]:
    items = []
    while (item := reader.read_nowait()) is not None:  # type: ignore[attr-defined]
        items.append(item)
    return items


async def test_one_publisher_per_room() -> None:
    hub = Hub()
    hub.start_publish("room", "a", [VIDEO])
    with pytest.raises(AlreadyPublishing) as error:
        hub.start_publish("room", "b", [VIDEO])
    assert error.value.source == "a"
    assert hub.get("room").source == "a"  # type: ignore[union-attr]


async def test_replace_tells_the_old_publisher_and_starts_a_new_session() -> None:
    hub, replaced = Hub(), []
    stream = hub.start_publish("room", "a", [VIDEO], on_replaced=lambda: replaced.append("a"))
    reader = stream.add_reader("test")
    again = hub.start_publish("room", "b", [VIDEO], replace=True)
    assert again is stream and replaced == ["a"] and stream.session == 2
    headers = [i for i in read_all(stream, reader) if isinstance(i, StreamHeader)]
    assert [h.session for h in headers] == [1, 2]
    hub.end_publish("room", source="a")  # the replaced publisher closing late changes nothing
    assert stream.state is StreamState.LIVE


class FakeClock:
    """The hub's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_takeover_rule_refuses_a_writing_publisher_and_replaces_a_silent_one() -> None:
    clock = FakeClock()
    hub = Hub(clock=clock)
    first = hub.publish("room", "a", [VIDEO], takeover_after=2.0)
    first.write(video(0, keyframe=True))
    clock.now += 1.9
    with pytest.raises(AlreadyPublishing):
        hub.publish("room", "b", [VIDEO], takeover_after=2.0)
    with pytest.raises(AlreadyPublishing):  # None: a live publisher is never replaced
        hub.publish("room", "b", [VIDEO])
    clock.now += 0.1
    told: list[str] = []
    second = hub.publish("room", "b", [VIDEO], takeover_after=2.0, on_replaced=lambda: told.append("b"))
    assert first.replaced and not first.live and second.live
    assert second.stream is first.stream and first.stream.session == 2 and first.stream.source == "b"
    reader = second.stream.add_reader("test")
    first.write(video(1, keyframe=True))  # the replaced publisher's late media goes nowhere
    first.end()  # and its end ends nothing
    assert first.stream.ignored_writes == 1 and first.stream.state is StreamState.LIVE
    second.write(video(2, keyframe=True))
    assert [u.dts for u in drain(read_all(second.stream, reader))] == [6000]
    clock.now += 5
    hub.publish("room", "c", [VIDEO], takeover_after=2.0)
    assert told == ["b"] and second.replaced


async def test_a_publication_that_ended_cannot_touch_the_stream_its_successor_resumed() -> None:
    hub = Hub(reconnect_grace=10.0)
    first = hub.publish("room", "a", [VIDEO])
    first.end()
    assert first.stream.state is StreamState.RECONNECTING and not first.live
    second = hub.publish("room", "b", [VIDEO])
    assert second.stream is first.stream and second.live
    first.write(video(0, keyframe=True))
    first.stop()
    first.end()
    assert second.stream.state is StreamState.LIVE and second.stream.ignored_writes == 1
    second.stop()
    assert hub.get("room") is None and not second.live


async def test_reconnect_within_grace_keeps_stream_and_readers() -> None:
    hub = Hub(reconnect_grace=5)
    stream = hub.start_publish("room", "a", [VIDEO])
    reader = stream.add_reader("test")
    stream.write(video(0, keyframe=True))
    hub.end_publish("room", "a")
    assert stream.state is StreamState.RECONNECTING and hub.get("room") is stream
    stream.write(video(1))  # a stale write while reconnecting is ignored
    assert stream.ignored_writes == 1
    assert hub.start_publish("room", "a2", [VIDEO]) is stream
    stream.write(video(0, keyframe=True))
    items = read_all(stream, reader)
    assert [type(i).__name__ for i in items] == ["StreamHeader", "Unit", "StreamHeader", "Unit"]
    assert stream.state is StreamState.LIVE and stream.session == 2 and not reader.closed


async def test_grace_expiry_goes_offline_and_ends_readers() -> None:
    hub, states = Hub(reconnect_grace=0.05), []
    hub.on_state_change(lambda s: states.append(s.state.value))
    stream = hub.start_publish("room", "a", [VIDEO])
    reader = stream.add_reader("test")
    stream.write(video(0, keyframe=True))
    hub.end_publish("room")
    await asyncio.sleep(0.15)
    assert hub.get("room") is None and stream.state is StreamState.OFFLINE
    assert states == ["live", "reconnecting", "offline"]
    assert isinstance(await reader.read(), StreamHeader)
    assert isinstance(await reader.read(), Unit)  # what was buffered is still delivered
    with pytest.raises(StreamEnded):
        await reader.read()
    fresh = hub.start_publish("room", "b", [VIDEO])
    assert fresh is not stream and fresh.session == 1


async def test_illegal_transition_is_named() -> None:
    hub = Hub(reconnect_grace=1)
    stream = hub.start_publish("room", "a", [VIDEO])
    with pytest.raises(IllegalTransition):
        stream._transition(StreamEvent.EXPIRE)


async def test_slow_reader_skips_to_next_keyframe_and_counts_drops() -> None:
    hub = Hub()
    stream = hub.start_publish("room", "a", [VIDEO, AUDIO])
    slow = stream.add_reader("slow", max_units=10)
    fast = stream.add_reader("fast", max_units=1000)
    stream.write(video(0, keyframe=True))
    for n in range(1, 15):  # the 11th unit overflows: the buffer is thrown away
        stream.write(video(n))
        stream.write(audio(n))
    assert slow.drops > 0 and slow.pending == 0
    stream.write(video(15, keyframe=True))
    stream.write(video(16))
    units = drain(read_all(stream, slow))
    assert [u.dts for u in units] == [15 * 3000, 16 * 3000] and units[0].keyframe
    assert slow.drops == 29  # every unit before the keyframe: 10 buffered, then 19 skipped
    assert len(drain(read_all(stream, fast))) == 31 and fast.drops == 0


async def test_publisher_never_waits_for_a_reader_that_never_reads() -> None:
    hub = Hub()
    stream = hub.start_publish("room", "a", [VIDEO])
    stuck = stream.add_reader("stuck", max_units=64, max_bytes=100_000)
    for n in range(10_000):  # synchronous: returns without any reader reading
        stream.write(video(n, keyframe=n % 30 == 0, size=5000))
    assert stuck.pending <= 64 and stuck._bytes <= 100_000
    assert stuck.drops > 9000


async def test_new_reader_starts_from_the_gop_cache() -> None:
    hub = Hub()
    stream = hub.start_publish("room", "a", [VIDEO, AUDIO])
    stream.write(audio(0))  # before any keyframe: nothing decodable to cache
    for n in range(40):
        stream.write(video(n, keyframe=n % 30 == 0))
        stream.write(audio(n))
    units = drain(read_all(stream, stream.add_reader("late")))
    assert units[0].keyframe and units[0].dts == 30 * 3000
    assert len(units) == 20  # 10 video + 10 audio since the last keyframe


async def test_state_dict_reports_codec_resolution_and_figures() -> None:
    hub, seen = Hub(), []
    hub.on_state_change(lambda s: seen.append(s.state_dict()))
    stream = hub.start_publish("room", "a", [VIDEO, AUDIO])
    for n in range(61):  # 2 s of 30 fps video, keyframe every second, 1000 bytes a frame
        stream.write(video(n, keyframe=n % 30 == 0))
    state = stream.state_dict()
    assert state["state"] == "live"
    assert (state["video_codec"], state["audio_codec"]) == ("h264", "aac")
    assert state["codecs"] == ["avc1.64001f", "mp4a.40.2"]
    assert (state["width"], state["height"], state["resolution"]) == (1280, 720, "1280x720")
    assert state["fps"] == 30.0 and state["keyframe_interval"] == 1.0
    assert state["bitrate"] == 61 * 1000 * 8 // 2
    assert (state["audio_sample_rate"], state["audio_channels"]) == (44100, 1)
    assert [s["state"] for s in seen] == ["live", "live"]  # published, then figures known
    assert seen[1]["fps"] is not None


async def test_audio_only_stream_resumes_on_any_audio_frame() -> None:
    hub = Hub()
    stream = hub.start_publish("room", "a", [AUDIO])
    reader = stream.add_reader("slow", max_units=4)
    for n in range(6):
        stream.write(audio(n))
    assert reader.drops == 4 and reader.pending == 2


async def test_wrong_calls_raise_usage_errors() -> None:
    hub = Hub()
    stream = hub.start_publish("room", "a", [VIDEO])
    with pytest.raises(UsageError):
        stream.write(audio(0))
    with pytest.raises(UsageError):
        hub.add_reader("nowhere", "test")
    with pytest.raises(UsageError):
        hub.start_publish("dup", "a", [VIDEO, VIDEO])


async def test_set_track_announces_a_header_with_the_same_session() -> None:
    hub = Hub()
    stream = hub.start_publish("room", "a")
    reader = stream.add_reader("test")
    stream.set_track(VIDEO)
    stream.set_track(VIDEO)  # unchanged: no new header
    stream.set_track(AUDIO)
    headers = [i for i in read_all(stream, reader) if isinstance(i, StreamHeader)]
    assert [(h.session, len(h.tracks)) for h in headers] == [(1, 0), (1, 1), (1, 2)]


async def test_reader_wakes_when_a_unit_arrives() -> None:
    hub = Hub()
    stream = hub.start_publish("room", "a", [VIDEO])
    reader = stream.add_reader("test")
    assert isinstance(await reader.read(), StreamHeader)
    pending = asyncio.ensure_future(reader.read())
    await asyncio.sleep(0)
    assert not pending.done()
    stream.write(video(0, keyframe=True))
    assert (await asyncio.wait_for(pending, 1)).dts == 0  # type: ignore[union-attr]
    reader.close()
    assert stream.readers == ()


async def test_a_reader_is_ready_while_read_nowait_has_an_item_or_the_end() -> None:
    hub = Hub(reconnect_grace=0)
    stream = hub.start_publish("room", "a", [VIDEO])
    reader = stream.add_reader("test")
    assert reader.ready  # the stream header
    read_all(stream, reader)
    assert not reader.ready and reader.read_nowait() is None
    stream.write(video(0, keyframe=True))
    assert reader.ready
    read_all(stream, reader)
    assert not reader.ready
    hub.end_publish("room")
    await asyncio.sleep(0.01)
    assert reader.ready
    with pytest.raises(StreamEnded):
        reader.read_nowait()


async def test_a_reader_of_one_kind_gets_every_header_and_only_that_kinds_units() -> None:
    hub = Hub()
    stream = hub.start_publish("room", "a", [VIDEO, AUDIO])
    stream.write(video(0, keyframe=True))
    stream.write(audio(0))
    only_video = stream.add_reader("whep", only=TrackKind.VIDEO)
    everything = stream.add_reader("hls")
    assert only_video.pending == 1 and everything.pending == 2  # the GOP cache, filtered
    stream.write(audio(1))
    stream.write(video(1))
    hub.start_publish("room", "b", [VIDEO, AUDIO], replace=True)
    items = read_all(stream, only_video)
    assert [h.session for h in items if isinstance(h, StreamHeader)] == [1, 2]
    assert [u.kind for u in drain(items)] == [TrackKind.VIDEO, TrackKind.VIDEO]
    assert len(drain(read_all(stream, everything))) == 4
    only_video.close()
    stream.write(video(2))
    assert only_video.pending == 0 and everything.pending == 1
    assert stream.readers == (everything,)
