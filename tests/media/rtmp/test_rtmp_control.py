"""Protocol control and User Control messages against literal bytes."""

from __future__ import annotations

import pytest

from media.rtmp.control import (
    Abort,
    Acknowledgement,
    LimitType,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
    control_message,
    parse_control,
)
from media.rtmp.errors import ChunkSizeError, ControlMessageError, ProtocolError

VECTORS = [
    (SetChunkSize(4096), 1, bytes.fromhex("00001000")),
    (Abort(3), 2, bytes.fromhex("00000003")),
    (Acknowledgement(2500000), 3, bytes.fromhex("002625a0")),
    (WindowAckSize(5000000), 5, bytes.fromhex("004c4b40")),
    (SetPeerBandwidth(5000000, LimitType.DYNAMIC), 6, bytes.fromhex("004c4b4002")),
    (UserControl(UserControlEvent.STREAM_BEGIN, 1), 4, bytes.fromhex("000000000001")),
    (UserControl(UserControlEvent.PING_REQUEST, 77), 4, bytes.fromhex("00060000004d")),
    (UserControl(UserControlEvent.PING_RESPONSE, 77), 4, bytes.fromhex("00070000004d")),
    (
        UserControl(UserControlEvent.SET_BUFFER_LENGTH, 1, 3000),
        4,
        bytes.fromhex("0003000000010000 0bb8"),
    ),
]


@pytest.mark.parametrize(("msg", "type_id", "wire"), VECTORS)
def test_both_ways(msg: object, type_id: int, wire: bytes) -> None:
    assert msg.serialize() == wire  # type: ignore[attr-defined]
    assert parse_control(type_id, wire) == msg
    for cut in range(len(wire)):
        with pytest.raises(ProtocolError):
            parse_control(type_id, wire[:cut])


def test_control_message_wraps_on_chunk_stream_2() -> None:
    m = control_message(SetChunkSize(4096))
    assert (m.chunk_stream_id, m.type_id, m.stream_id, m.payload) == (2, 1, 0, b"\x00\x00\x10\x00")


@pytest.mark.parametrize("wire", ["00000000", "80001000", "00010001"])
def test_chunk_size_out_of_range(wire: str) -> None:
    with pytest.raises(ChunkSizeError):
        parse_control(1, bytes.fromhex(wire))


@pytest.mark.parametrize(
    ("type_id", "wire"), [(6, "0000000003"), (4, "00090000 0001"), (4, "0000000000010000")]
)
def test_malformed(type_id: int, wire: str) -> None:
    with pytest.raises(ControlMessageError):
        parse_control(type_id, bytes.fromhex(wire))
