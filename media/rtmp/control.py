"""Protocol control messages (spec 5.4) and User Control events (spec 6.2, 7.1.7).

Each is a frozen dataclass with ``parse(payload)`` and ``serialize()``; all
travel on chunk stream 2, message stream 0.  ``parse_control`` dispatches on
the message type id.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import ClassVar

from .chunk import Message, parse_chunk_size
from .errors import ControlMessageError
from .limits import (
    MSG_ABORT,
    MSG_ACKNOWLEDGEMENT,
    MSG_SET_CHUNK_SIZE,
    MSG_SET_PEER_BANDWIDTH,
    MSG_USER_CONTROL,
    MSG_WINDOW_ACK_SIZE,
)

CONTROL_CHUNK_STREAM = 2


def _u32(payload: bytes, what: str) -> int:
    if len(payload) != 4:
        raise ControlMessageError(f"{what} payload of {len(payload)} bytes, expected 4")
    return int(struct.unpack(">I", payload)[0])


@dataclass(frozen=True, slots=True)
class SetChunkSize:
    type_id: ClassVar[int] = MSG_SET_CHUNK_SIZE
    chunk_size: int

    @classmethod
    def parse(cls, payload: bytes) -> SetChunkSize:
        return cls(parse_chunk_size(payload))

    def serialize(self) -> bytes:
        return struct.pack(">I", self.chunk_size & 0x7FFFFFFF)


@dataclass(frozen=True, slots=True)
class Abort:
    type_id: ClassVar[int] = MSG_ABORT
    chunk_stream_id: int

    @classmethod
    def parse(cls, payload: bytes) -> Abort:
        return cls(_u32(payload, "Abort"))

    def serialize(self) -> bytes:
        return struct.pack(">I", self.chunk_stream_id)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    type_id: ClassVar[int] = MSG_ACKNOWLEDGEMENT
    sequence_number: int

    @classmethod
    def parse(cls, payload: bytes) -> Acknowledgement:
        return cls(_u32(payload, "Acknowledgement"))

    def serialize(self) -> bytes:
        return struct.pack(">I", self.sequence_number & 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class WindowAckSize:
    type_id: ClassVar[int] = MSG_WINDOW_ACK_SIZE
    window: int

    @classmethod
    def parse(cls, payload: bytes) -> WindowAckSize:
        return cls(_u32(payload, "Window Acknowledgement Size"))

    def serialize(self) -> bytes:
        return struct.pack(">I", self.window)


class LimitType(enum.IntEnum):
    HARD = 0
    SOFT = 1
    DYNAMIC = 2


@dataclass(frozen=True, slots=True)
class SetPeerBandwidth:
    type_id: ClassVar[int] = MSG_SET_PEER_BANDWIDTH
    window: int
    limit_type: LimitType

    @classmethod
    def parse(cls, payload: bytes) -> SetPeerBandwidth:
        if len(payload) != 5 or payload[4] > 2:
            raise ControlMessageError(f"bad Set Peer Bandwidth payload {payload.hex()}")
        return cls(int(struct.unpack(">I", payload[:4])[0]), LimitType(payload[4]))

    def serialize(self) -> bytes:
        return struct.pack(">IB", self.window, self.limit_type)


class UserControlEvent(enum.IntEnum):
    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


@dataclass(frozen=True, slots=True)
class UserControl:
    """A User Control message: an event and its 4 (or 8 for SetBufferLength) data bytes.

    ``value`` is the stream id or the ping timestamp; ``buffer_ms`` only for
    SetBufferLength.  Unknown event types are a ``ControlMessageError``.
    """

    type_id: ClassVar[int] = MSG_USER_CONTROL
    event: UserControlEvent
    value: int
    buffer_ms: int = 0

    @classmethod
    def parse(cls, payload: bytes) -> UserControl:
        if len(payload) < 6:
            raise ControlMessageError(f"User Control payload of {len(payload)} bytes")
        event_type, value = struct.unpack(">HI", payload[:6])
        try:
            event = UserControlEvent(event_type)
        except ValueError:
            raise ControlMessageError(f"unknown User Control event {event_type}") from None
        if event is UserControlEvent.SET_BUFFER_LENGTH:
            if len(payload) != 10:
                raise ControlMessageError("SetBufferLength needs 8 data bytes")
            return cls(event, value, int(struct.unpack(">I", payload[6:])[0]))
        if len(payload) != 6:
            raise ControlMessageError(f"User Control event {event.name} with {len(payload)} bytes")
        return cls(event, value)

    def serialize(self) -> bytes:
        data = struct.pack(">HI", self.event, self.value & 0xFFFFFFFF)
        if self.event is UserControlEvent.SET_BUFFER_LENGTH:
            data += struct.pack(">I", self.buffer_ms)
        return data


ControlMessage = (
    SetChunkSize | Abort | Acknowledgement | WindowAckSize | SetPeerBandwidth | UserControl
)

_PARSERS: dict[int, type[ControlMessage]] = {
    cls.type_id: cls
    for cls in (SetChunkSize, Abort, Acknowledgement, WindowAckSize, SetPeerBandwidth, UserControl)
}


def is_control(type_id: int) -> bool:
    return type_id in _PARSERS


def parse_control(type_id: int, payload: bytes) -> ControlMessage:
    return _PARSERS[type_id].parse(payload)


def control_message(control: ControlMessage, timestamp: int = 0) -> Message:
    """Wrap a control message for the chunk encoder (chunk stream 2, stream 0)."""
    return Message(CONTROL_CHUNK_STREAM, control.type_id, 0, timestamp, control.serialize())
