"""Derived tracks in the hub: kept apart from the publisher's tracks, read only on request."""

from __future__ import annotations

import pytest

from media.errors import StreamEnded, UsageError
from media.hub import Hub
from media.units import Codec, StreamHeader, TrackKind, Unit
from tests.media.test_hub import AUDIO, VIDEO, audio, video


def opus(n: int, keyframe: bool = False) -> Unit:
    return Unit(1, TrackKind.AUDIO, n * 1800, n * 1800, keyframe, bytes([n % 256]) * 80)


def read_all(reader: object) -> list[object]:
    items = []
    while (item := reader.read_nowait()) is not None:  # type: ignore[attr-defined]
        items.append(item)
    return items


async def test_a_reader_that_does_not_ask_never_sees_the_derived_track() -> None:
    hub = Hub()
    publication = hub.publish("room", "whip", [VIDEO, AUDIO], derived=[Codec.OPUS])
    plain = publication.stream.add_reader("hls")
    asks = publication.stream.add_reader("whep-audio", derived=Codec.OPUS)
    publication.write(video(0, keyframe=True))
    publication.write_derived(Codec.OPUS, opus(0))
    publication.write(audio(1))
    publication.write_derived(Codec.OPUS, opus(1))
    got = read_all(plain)
    assert [type(i) for i in got] == [StreamHeader, Unit, Unit]
    assert got[0] == StreamHeader(1, (VIDEO, AUDIO))  # the header names the publisher's tracks only
    assert [u.kind for u in got[1:]] == [TrackKind.VIDEO, TrackKind.AUDIO]  # type: ignore[union-attr]
    assert read_all(asks) == [opus(0), opus(1)]  # only the derived units, no header
    stream = publication.stream
    assert stream.header.tracks == (VIDEO, AUDIO) and stream.state_dict()["audio_codec"] == "aac"
    assert stream.state_dict()["readers"] == 1 and [r.kind for r in stream.readers] == ["hls"]
    late = stream.add_reader("late")  # the GOP cache holds no derived unit
    assert [i for i in read_all(late) if isinstance(i, Unit)] == [video(0, keyframe=True), audio(1)]


async def test_opus_before_the_first_video_frame_reaches_its_readers() -> None:
    hub = Hub()
    publication = hub.publish("room", "whip", derived=[Codec.OPUS])  # no track known yet
    reader = hub.add_reader("room", "whep-audio", derived=Codec.OPUS)
    for n in range(3):
        publication.write_derived(Codec.OPUS, opus(n))
    assert read_all(reader) == [opus(0), opus(1), opus(2)]
    with pytest.raises(UsageError):  # a derived unit is no unit of the publisher's tracks
        publication.write(opus(3))


async def test_an_opus_reader_recovers_after_overflow_without_a_keyframe() -> None:
    hub = Hub()
    publication = hub.publish("room", "whip", [VIDEO], derived=[Codec.OPUS])
    reader = publication.stream.add_reader("whep-audio", derived=Codec.OPUS, max_units=4)
    publication.write(video(0, keyframe=True))
    for n in range(5):  # the fifth overflows: the four buffered go, the fifth is kept
        publication.write_derived(Codec.OPUS, opus(n))
    publication.write(video(1))  # no video keyframe since: a plain reader would still skip
    publication.write_derived(Codec.OPUS, opus(5))
    assert reader.drops == 4
    assert read_all(reader) == [opus(4), opus(5)]


async def test_derived_writes_of_a_replaced_or_ended_publisher_are_ignored() -> None:
    hub = Hub()
    first = hub.publish("room", "a", derived=[Codec.OPUS])
    reader = hub.add_reader("room", "whep-audio", derived=Codec.OPUS)
    second = hub.publish("room", "b", derived=[Codec.OPUS], takeover_after=0.0)
    first.write_derived(Codec.OPUS, opus(0))
    second.write_derived(Codec.OPUS, opus(1))
    assert read_all(reader) == [opus(1)] and second.stream.ignored_writes == 1
    second.stop()
    second.write_derived(Codec.OPUS, opus(2))
    with pytest.raises(StreamEnded):
        reader.read_nowait()
