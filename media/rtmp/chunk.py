"""The RTMP chunk stream (spec section 5.3), decoder and encoder, Sans-I/O.

Rules the decoder enforces (see ``limits.Limits``):

* Basic header: 1, 2 or 3 bytes (chunk stream ids 2-63, 64-319, 64-65599).
* Message header fmt 0 (11 bytes, absolute timestamp), fmt 1 (7, delta, length,
  type), fmt 2 (3, delta), fmt 3 (0).  A timestamp field of 0xFFFFFF means a
  4-byte extended timestamp follows; it is repeated on every fmt 3 chunk of a
  chunk stream whose last fmt 0-2 header used it.
* A fmt 3 chunk that starts a message reuses the last delta; after fmt 0 that
  delta is the fmt 0 timestamp itself (as the spec and ffmpeg say).
* fmt 1-3 on a chunk stream without an earlier fmt 0 is ``MissingPreviousHeader``;
  fmt 0-2 in the middle of a message is a ``ChunkError``.
* Set Chunk Size and Abort take effect inside the decoder at once, because they
  change how the very next bytes are read; they are still returned as messages.
* A message longer than its type's limit is refused when its header arrives,
  before anything is buffered; partial messages across all chunk streams may
  hold at most ``max_inflight_bytes``; at most ``max_chunk_streams`` ids.
* Timestamps are 32-bit and wrap.

Memory: the decoder buffers at most one chunk of unparsed input plus the
partial messages, both capped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import (
    BufferLimitExceeded,
    ChunkError,
    ChunkSizeError,
    MessageTooLarge,
    MissingPreviousHeader,
    TooManyChunkStreams,
)
from .limits import DEFAULT_LIMITS, MSG_ABORT, MSG_SET_CHUNK_SIZE, Limits

DEFAULT_CHUNK_SIZE = 128
_HEADER_LEN = (11, 7, 3, 0)
_EXTENDED = 0xFFFFFF
_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Message:
    """One reassembled RTMP message."""

    chunk_stream_id: int
    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


class _Inbound:
    """What the decoder remembers per chunk stream id."""

    __slots__ = ("timestamp", "delta", "length", "type_id", "stream_id", "extended", "partial")

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.extended = False
        self.partial: bytearray | None = None


def _basic_header(buf: bytearray | bytes, pos: int) -> tuple[int, int, int] | None:
    """Return (fmt, chunk_stream_id, header length) or None when incomplete."""
    if len(buf) <= pos:
        return None
    fmt, low = buf[pos] >> 6, buf[pos] & 0x3F
    if low == 0:
        return None if len(buf) < pos + 2 else (fmt, 64 + buf[pos + 1], 2)
    if low == 1:
        if len(buf) < pos + 3:
            return None
        return fmt, 64 + buf[pos + 1] + (buf[pos + 2] << 8), 3
    return fmt, low, 1


class ChunkDecoder:
    """Feed bytes, get whole messages."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.bytes_received = 0
        self._buf = bytearray()
        self._streams: dict[int, _Inbound] = {}
        self._inflight = 0

    @property
    def buffered(self) -> int:
        """Bytes held: unparsed input plus partial messages."""
        return len(self._buf) + self._inflight

    def feed(self, data: bytes) -> list[Message]:
        self.bytes_received += len(data)
        self._buf += data
        messages: list[Message] = []
        pos = 0
        while True:
            result = self._read_chunk(pos)
            if result is None:
                break
            pos, message = result
            if message is not None:
                messages.append(message)
                self._apply_inline(message)
        del self._buf[:pos]
        return messages

    def _stream(self, fmt: int, csid: int) -> _Inbound:
        state = self._streams.get(csid)
        if state is not None:
            return state
        if fmt != 0:
            raise MissingPreviousHeader(f"fmt {fmt} chunk on new chunk stream {csid}")
        if len(self._streams) >= self.limits.max_chunk_streams:
            raise TooManyChunkStreams(f"more than {self.limits.max_chunk_streams} chunk streams")
        state = self._streams[csid] = _Inbound()
        return state

    def _read_chunk(self, pos: int) -> tuple[int, Message | None] | None:
        buf = self._buf
        basic = _basic_header(buf, pos)
        if basic is None:
            return None
        fmt, csid, basic_len = basic
        state = self._stream(fmt, csid)
        if fmt < 3 and state.partial is not None:
            raise ChunkError(f"fmt {fmt} header in the middle of a message on chunk stream {csid}")
        hpos = pos + basic_len
        hlen = _HEADER_LEN[fmt]
        if len(buf) < hpos + hlen:
            return None
        ts_field = int.from_bytes(buf[hpos : hpos + 3], "big") if fmt < 3 else 0
        extended = ts_field == _EXTENDED if fmt < 3 else state.extended
        length, type_id = state.length, state.type_id
        if fmt <= 1:
            length = int.from_bytes(buf[hpos + 3 : hpos + 6], "big")
            type_id = buf[hpos + 6]
        epos = hpos + hlen
        if extended:
            if len(buf) < epos + 4:
                return None
            ts_field = int.from_bytes(buf[epos : epos + 4], "big")
            epos += 4
        starting = state.partial is None
        if starting:
            limit = self.limits.message_limit(type_id)
            if length > limit:
                raise MessageTooLarge(f"message type {type_id} of {length} bytes (limit {limit})")
        have = 0 if state.partial is None else len(state.partial)
        take = min(self.chunk_size, length - have)
        if len(buf) < epos + take:
            return None
        if starting:
            self._start_message(state, fmt, ts_field, extended, length, type_id, buf, hpos)
        return epos + take, self._append(state, csid, bytes(buf[epos : epos + take]))

    def _start_message(
        self,
        state: _Inbound,
        fmt: int,
        ts_field: int,
        extended: bool,
        length: int,
        type_id: int,
        buf: bytearray,
        hpos: int,
    ) -> None:
        if fmt == 0:
            state.stream_id = struct.unpack_from("<I", buf, hpos + 7)[0]
            state.timestamp = ts_field
            state.delta = ts_field
        else:
            state.delta = ts_field if fmt < 3 or extended else state.delta
            state.timestamp = (state.timestamp + state.delta) & _MASK32
        if fmt < 3:
            state.extended = extended
        state.length, state.type_id = length, type_id
        state.partial = bytearray()

    def _append(self, state: _Inbound, csid: int, data: bytes) -> Message | None:
        assert state.partial is not None
        if self._inflight + len(data) > self.limits.max_inflight_bytes:
            raise BufferLimitExceeded(
                f"partial messages exceed {self.limits.max_inflight_bytes} bytes"
            )
        state.partial += data
        self._inflight += len(data)
        if len(state.partial) < state.length:
            return None
        payload = bytes(state.partial)
        self._inflight -= len(payload)
        state.partial = None
        return Message(csid, state.type_id, state.stream_id, state.timestamp, payload)

    def _apply_inline(self, message: Message) -> None:
        if message.type_id == MSG_SET_CHUNK_SIZE:
            self.chunk_size = parse_chunk_size(message.payload, self.limits)
        elif message.type_id == MSG_ABORT and len(message.payload) == 4:
            self.abort(struct.unpack(">I", message.payload)[0])

    def abort(self, chunk_stream_id: int) -> None:
        """Drop the partial message of ``chunk_stream_id`` (Abort Message, 5.4.2)."""
        state = self._streams.get(chunk_stream_id)
        if state is not None and state.partial is not None:
            self._inflight -= len(state.partial)
            state.partial = None


def parse_chunk_size(payload: bytes, limits: Limits = DEFAULT_LIMITS) -> int:
    if len(payload) != 4:
        raise ChunkSizeError(f"Set Chunk Size payload of {len(payload)} bytes")
    size = int.from_bytes(payload, "big")
    if size & 0x80000000 or not 1 <= size <= limits.max_chunk_size:
        raise ChunkSizeError(f"chunk size {size} outside 1..{limits.max_chunk_size}")
    return size


def _encode_basic_header(fmt: int, csid: int) -> bytes:
    if 2 <= csid <= 63:
        return bytes([fmt << 6 | csid])
    if 64 <= csid <= 319:
        return bytes([fmt << 6, csid - 64])
    if 320 <= csid <= 65599:
        return bytes([fmt << 6 | 1]) + (csid - 64).to_bytes(2, "little")
    raise ValueError(f"chunk stream id {csid} outside 2..65599")


class _Outbound:
    __slots__ = ("timestamp", "delta", "length", "type_id", "stream_id", "delta_known")

    def __init__(self, message: Message) -> None:
        self.timestamp = message.timestamp
        self.delta = 0
        self.length = len(message.payload)
        self.type_id = message.type_id
        self.stream_id = message.stream_id
        self.delta_known = False


class ChunkEncoder:
    """Split messages into chunks, choosing the smallest header that is unambiguous.

    fmt 3 starts a message only when the previous header on that chunk stream
    carried an explicit delta (fmt 1 or 2), because peers disagree on what a
    fmt 3 after fmt 0 means.  A Set Chunk Size message changes the chunk size
    for every chunk after its own.
    """

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _Outbound] = {}

    def _choose(self, m: Message) -> tuple[int, int]:
        prev = self._streams.get(m.chunk_stream_id)
        ts = m.timestamp & _MASK32
        if prev is None or prev.stream_id != m.stream_id or ts < prev.timestamp:
            self._streams[m.chunk_stream_id] = out = _Outbound(m)
            out.timestamp = ts
            return 0, ts
        delta = ts - prev.timestamp
        if prev.length != len(m.payload) or prev.type_id != m.type_id:
            fmt = 1
        elif delta != prev.delta or not prev.delta_known:
            fmt = 2
        else:
            fmt = 3
        prev.timestamp, prev.delta, prev.delta_known = ts, delta, True
        prev.length, prev.type_id = len(m.payload), m.type_id
        return fmt, delta

    def encode(self, message: Message) -> bytes:
        fmt, field = self._choose(message)
        extended = field >= _EXTENDED
        ts3 = (_EXTENDED if extended else field).to_bytes(3, "big")
        head = _encode_basic_header(fmt, message.chunk_stream_id)
        if fmt <= 1:
            head += ts3 + len(message.payload).to_bytes(3, "big") + bytes([message.type_id])
            if fmt == 0:
                head += struct.pack("<I", message.stream_id)
        elif fmt == 2:
            head += ts3
        ext = struct.pack(">I", field) if extended else b""
        cont = _encode_basic_header(3, message.chunk_stream_id) + ext
        payload = message.payload
        parts = [head + ext, payload[: self.chunk_size]]
        for off in range(self.chunk_size, len(payload), self.chunk_size):
            parts += [cont, payload[off : off + self.chunk_size]]
        if message.type_id == MSG_SET_CHUNK_SIZE and message.stream_id == 0:
            self.chunk_size = struct.unpack(">I", payload)[0]
        return b"".join(parts)
