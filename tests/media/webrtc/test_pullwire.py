"""The edge pull's messages (media.webrtc.pullwire): literal bytes both ways, every truncated
prefix refused with a WireError, and anything at all either parsed or refused the same way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.units import Codec, StreamHeader, Track, TrackKind, Unit
from media.webrtc import pullwire
from media.webrtc.errors import WireError
from tests.media.test_hub import ASC, AVCC

VIDEO = Track.h264(1, AVCC)
AUDIO = Track.aac(2, ASC)
HEADER = pullwire.Header(StreamHeader(3, (VIDEO, AUDIO)), on_demand=True)
HEADER_BYTES = (
    bytes.fromhex("01" "00000003" "01" "02")
    + bytes.fromhex("0001" "01") + len(AVCC).to_bytes(4, "big") + AVCC
    + bytes.fromhex("0002" "02" "00000002") + ASC
)
UNIT = pullwire.UnitMessage(Unit(1, TrackKind.VIDEO, 90_000, 93_000, True, b"\x00\x00\x00\x01\x65"))
UNIT_BYTES = bytes.fromhex("02" "0001" "00" "01" "0000000000015f90" "0000000000016b48" "0000000165")
OPUS = pullwire.OpusPacket(-1800, b"\xfc\xff\xfe")
OPUS_BYTES = bytes.fromhex("03" "fffffffffffff8f8" "fcfffe")
KEYFRAME_BYTES = b"\x04"

CASES = [(HEADER, HEADER_BYTES), (UNIT, UNIT_BYTES), (OPUS, OPUS_BYTES),
         (pullwire.KeyframeRequest(), KEYFRAME_BYTES)]


@pytest.mark.parametrize(("message", "data"), CASES)
def test_messages_both_ways(message: pullwire.Message, data: bytes) -> None:
    assert bytes(message) == data
    assert pullwire.parse(data) == message


def test_an_audio_unit_and_a_header_without_tracks() -> None:
    unit = pullwire.UnitMessage(Unit(2, TrackKind.AUDIO, 5, 5, False, b""))
    assert pullwire.parse(bytes(unit)) == unit
    empty = pullwire.Header(StreamHeader(1, ()), on_demand=False)
    assert bytes(empty) == bytes.fromhex("01" "00000001" "00" "00")
    assert pullwire.parse(bytes(empty)) == empty


@pytest.mark.parametrize("data", [HEADER_BYTES, UNIT_BYTES, OPUS_BYTES])
def test_every_truncated_prefix_is_refused(data: bytes) -> None:
    shortest_whole = {HEADER_BYTES: len(HEADER_BYTES), UNIT_BYTES: 21, OPUS_BYTES: 9}[data]
    for end in range(shortest_whole):
        with pytest.raises(WireError):
            pullwire.parse(data[:end])
    pullwire.parse(data[:shortest_whole])  # the fixed part whole, an empty payload: a message


@pytest.mark.parametrize(("data", "error"), [
    (b"", "empty message"),
    (b"\x09", "unknown message type 0x09"),
    (b"\x04\x00", "keyframe request: 1 bytes left over"),
    (HEADER_BYTES + b"\x00", "header: 1 bytes left over"),
    (bytes.fromhex("01" "00000001" "00" "01" "0001" "07" "00000000"), "track 1: unknown codec 7"),
    (bytes.fromhex("01" "00000001" "00" "01" "0001" "01" "00000002" "0164"), "track 1: "),
    (bytes.fromhex("01" "00000001" "00" "01" "0001" "02" "00000005" "12"), "config of 5 bytes truncated at 1"),
    (bytes.fromhex("02" "0001" "02" "00") + bytes(16), "unit: unknown kind 2"),
    (bytes.fromhex("02" "0000" "00" "00") + bytes(16), "unit: track id 0"),
])
def test_malformed_messages_say_what_is_wrong(data: bytes, error: str) -> None:
    with pytest.raises(WireError, match=error.replace("(", r"\(")):
        pullwire.parse(data)


def test_a_track_of_a_codec_that_cannot_be_pulled_is_refused_on_write() -> None:
    hevc = Track(1, TrackKind.VIDEO, Codec.HEVC, b"x", "hvc1")
    with pytest.raises(WireError, match="hevc cannot be pulled"):
        bytes(pullwire.Header(StreamHeader(1, (hevc,)), on_demand=False))


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_wire_error(data: bytes) -> None:
    try:
        message = pullwire.parse(data)
    except WireError:
        return
    assert pullwire.parse(bytes(message)) == message


@given(st.integers(1, 0xFFFF), st.sampled_from(list(TrackKind)), st.integers(-(2**63), 2**63 - 1),
       st.integers(-(2**63), 2**63 - 1), st.booleans(), st.binary(max_size=64))
def test_units_round_trip(track_id: int, kind: TrackKind, dts: int, pts: int, keyframe: bool, payload: bytes) -> None:
    message = pullwire.UnitMessage(Unit(track_id, kind, dts, pts, keyframe, payload))
    assert pullwire.parse(bytes(message)) == message
