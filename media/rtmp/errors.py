"""Errors of the RTMP package.

The tree::

    RtmpError
    ├── ProtocolError              the peer sent something we do not accept; close the connection
    │   ├── HandshakeError         bad C0/S0 version byte or a handshake out of order
    │   ├── ChunkError             a malformed or hostile chunk stream
    │   │   ├── ChunkSizeError         Set Chunk Size outside 1 .. Limits.max_chunk_size
    │   │   ├── MessageTooLarge        a message header announces more than its type may carry
    │   │   ├── TooManyChunkStreams    more chunk stream ids than Limits.max_chunk_streams
    │   │   ├── BufferLimitExceeded    partial messages in flight exceed Limits.max_inflight_bytes
    │   │   └── MissingPreviousHeader  fmt 1-3 chunk on a chunk stream with no earlier fmt 0
    │   ├── ControlMessageError    a protocol control or user control message of the wrong size
    │   ├── AmfError               malformed AMF0/AMF3 (truncated, too deep, bad UTF-8)
    │   │   └── AmfUnsupported         a valid marker we do not decode (movieclip, recordset...)
    │   ├── FlvError               malformed FLV tag body or codec configuration record
    │   └── CommandError           a command that is malformed or illegal in the current state
    ├── RefusedError               the peer answered our request with an error status (client side)
    ├── ConnectionClosedError      the connection ended (I/O layers only)
    └── UsageError                 we were called wrongly; a bug on our side, not the peer's
        ├── InvalidStateError      a method called in a state that does not allow it
        └── AmfEncodeError         a Python value that AMF0 cannot carry

Every ``ProtocolError`` subclass has a short ``kind`` used as the metrics label
``nal_rtmp_protocol_errors_total{kind}``.
"""

from __future__ import annotations


class RtmpError(Exception):
    """Root of every error raised by ``media.rtmp``."""


class ProtocolError(RtmpError):
    """The peer sent bytes we will not accept; the connection must be closed."""

    kind = "protocol"


class HandshakeError(ProtocolError):
    kind = "handshake"


class ChunkError(ProtocolError):
    kind = "chunk"


class ChunkSizeError(ChunkError):
    kind = "chunk_size"


class MessageTooLarge(ChunkError):
    kind = "message_too_large"


class TooManyChunkStreams(ChunkError):
    kind = "too_many_chunk_streams"


class BufferLimitExceeded(ChunkError):
    kind = "buffer_limit"


class MissingPreviousHeader(ChunkError):
    kind = "missing_previous_header"


class ControlMessageError(ProtocolError):
    kind = "control_message"


class AmfError(ProtocolError):
    kind = "amf"


class AmfUnsupported(AmfError):
    kind = "amf_unsupported"


class FlvError(ProtocolError):
    kind = "flv"


class CommandError(ProtocolError):
    kind = "command"


class RefusedError(RtmpError):
    """The peer refused our request (``_error`` or an ``onStatus`` of level ``error``)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class ConnectionClosedError(RtmpError):
    """The connection is closed; raised by the asyncio layers."""


class UsageError(RtmpError):
    """We called the package wrongly."""


class InvalidStateError(UsageError):
    pass


class AmfEncodeError(UsageError):
    pass
