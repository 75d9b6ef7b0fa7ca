"""Chunk stream decoder and encoder against literal bytes, byte at a time, fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtmp.chunk import ChunkDecoder, ChunkEncoder, Message
from media.rtmp.errors import (
    BufferLimitExceeded,
    ChunkError,
    ChunkSizeError,
    MessageTooLarge,
    MissingPreviousHeader,
    ProtocolError,
    TooManyChunkStreams,
)
from media.rtmp.limits import Limits

H = bytes.fromhex
P300 = bytes(i % 256 for i in range(300))

# (messages, chunk size, wire) -- hand-computed from spec section 5.3.
VECTORS: list[tuple[list[Message], bytes]] = [
    (  # one fmt 0 chunk
        [Message(3, 20, 0, 0, b"abcdefghij")],
        H("03 000000 00000a 14 00000000") + b"abcdefghij",
    ),
    (  # a 300-byte message split at 128 with fmt 3 continuations
        [Message(3, 20, 0, 0, P300)],
        H("03 000000 00012c 14 00000000")
        + P300[:128]
        + b"\xc3"
        + P300[128:256]
        + b"\xc3"
        + P300[256:],
    ),
    (  # fmt 0, then fmt 1 (length changes), fmt 2 (delta changes), fmt 3 (same delta)
        [
            Message(6, 8, 1, 0, b"AAAA"),
            Message(6, 8, 1, 23, b"BBBBB"),
            Message(6, 8, 1, 47, b"CCCCC"),
            Message(6, 8, 1, 71, b"DDDDD"),
        ],
        H("06 000000 000004 08 01000000")
        + b"AAAA"
        + H("46 000017 000005 08")
        + b"BBBBB"
        + H("86 000018")
        + b"CCCCC"
        + b"\xc6DDDDD",
    ),
    (  # extended timestamp, repeated on the fmt 3 continuation
        [Message(4, 9, 1, 0x01000000, bytes(200))],
        H("04 ffffff 0000c8 09 01000000 01000000") + bytes(128) + H("c4 01000000") + bytes(72),
    ),
    (  # two-byte and three-byte basic headers
        [Message(64, 20, 0, 0, b"x"), Message(320, 20, 0, 0, b"y")],
        H("00 00 000000 000001 14 00000000") + b"x" + H("01 0001 000000 000001 14 00000000") + b"y",
    ),
    (  # Set Chunk Size takes effect for the very next chunk
        [Message(2, 1, 0, 0, H("00001000")), Message(3, 20, 0, 0, P300)],
        H("02 000000 000004 01 00000000 00001000 03 000000 00012c 14 00000000") + P300,
    ),
]


def decode_bytewise(wire: bytes, decoder: ChunkDecoder | None = None) -> list[Message]:
    decoder = decoder or ChunkDecoder()
    out: list[Message] = []
    for i in range(len(wire)):
        out += decoder.feed(wire[i : i + 1])
    return out


@pytest.mark.parametrize(("messages", "wire"), VECTORS)
def test_encode_literal(messages: list[Message], wire: bytes) -> None:
    enc = ChunkEncoder()
    assert b"".join(enc.encode(m) for m in messages) == wire


@pytest.mark.parametrize(("messages", "wire"), VECTORS)
def test_decode_literal_whole_and_bytewise(messages: list[Message], wire: bytes) -> None:
    assert ChunkDecoder().feed(wire) == messages
    assert decode_bytewise(wire) == messages


@pytest.mark.parametrize(("messages", "wire"), VECTORS)
def test_every_prefix_waits_without_error(messages: list[Message], wire: bytes) -> None:
    for cut in range(len(wire)):
        got = ChunkDecoder().feed(wire[:cut])
        assert got == messages[: len(got)]
        assert len(got) < len(messages)


def test_fmt3_after_fmt0_reuses_timestamp_as_delta() -> None:
    wire = H("03 000014 000001 14 00000000") + b"a" + b"\xc3b"
    got = ChunkDecoder().feed(wire)
    assert [(m.timestamp, m.payload) for m in got] == [(20, b"a"), (40, b"b")]


def test_fmt1_extended_delta_and_wraparound() -> None:
    wire = (
        H("03 ffffff 000001 14 00000000 fffffff0") + b"a" + H("43 ffffff 000001 14 00000020") + b"b"
    )
    got = ChunkDecoder().feed(wire)
    assert [m.timestamp for m in got] == [0xFFFFFFF0, 0x10]


def test_abort_drops_partial_message() -> None:
    dec = ChunkDecoder()
    assert dec.feed(H("03 000000 000100 14 00000000") + bytes(128)) == []
    assert dec.buffered == 128
    got = dec.feed(H("02 000000 000004 02 00000000 00000003"))
    assert [m.type_id for m in got] == [2] and dec.buffered == 0
    got = dec.feed(H("03 000005 000001 14 00000000") + b"z")
    assert got == [Message(3, 20, 0, 5, b"z")]


def test_empty_message() -> None:
    assert ChunkDecoder().feed(H("03 000000 000000 14 00000000")) == [Message(3, 20, 0, 0, b"")]


def test_errors_are_named() -> None:
    with pytest.raises(MissingPreviousHeader):
        ChunkDecoder().feed(b"\x43")
    with pytest.raises(MessageTooLarge):  # 16 MiB video, refused at its header
        ChunkDecoder().feed(H("04 000000 ffffff 09 01000000"))
    with pytest.raises(MessageTooLarge):  # a command cannot be large
        ChunkDecoder().feed(H("03 000000 100000 14 00000000"))
    with pytest.raises(ChunkSizeError):
        ChunkDecoder().feed(H("02 000000 000004 01 00000000 7fffffff"))
    with pytest.raises(ChunkError, match="middle"):
        ChunkDecoder().feed(H("03 000000 000100 14 00000000") + bytes(128) + H("03 000000"))
    dec = ChunkDecoder(Limits(max_chunk_streams=2))
    dec.feed(H("03 000000 000000 14 00000000 04 000000 000000 14 00000000"))
    with pytest.raises(TooManyChunkStreams):
        dec.feed(H("05 000000 000000 14 00000000"))
    dec = ChunkDecoder(Limits(max_inflight_bytes=200))
    dec.feed(H("04 000000 001000 09 01000000") + bytes(128))
    with pytest.raises(BufferLimitExceeded):
        dec.feed(H("05 000000 001000 09 01000000") + bytes(128))


def test_trickled_16mb_claim_never_buffers() -> None:
    dec = ChunkDecoder()
    header = H("06 000000 ffffff 09 01000000")
    with pytest.raises(MessageTooLarge):
        for i in range(len(header)):
            dec.feed(header[i : i + 1])
    assert dec.buffered <= len(header)


messages_st = st.lists(
    st.builds(
        Message,
        chunk_stream_id=st.sampled_from([3, 4, 5, 63, 64, 319, 320, 65599]),
        type_id=st.sampled_from([8, 9, 18, 20]),
        stream_id=st.sampled_from([0, 1]),
        timestamp=st.integers(0, 0xFFFFFFFF),
        payload=st.binary(max_size=600),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(messages_st, st.integers(1, 700), st.data())
def test_roundtrip_any_split(messages: list[Message], chunk_size: int, data: st.DataObject) -> None:
    enc = ChunkEncoder()
    dec = ChunkDecoder()
    wire = enc.encode(Message(2, 1, 0, 0, chunk_size.to_bytes(4, "big")))
    wire += b"".join(enc.encode(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    got: list[Message] = []
    last = 0
    for cut in [*cuts, len(wire)]:
        got += dec.feed(wire[last:cut])
        last = cut
    assert got[1:] == messages


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 50))
def test_fuzz_only_named_errors_and_bounded(data: bytes, step: int) -> None:
    limits = Limits(max_inflight_bytes=4096, max_chunk_streams=8)
    dec = ChunkDecoder(limits)
    try:
        for i in range(0, len(data), step):
            dec.feed(data[i : i + step])
            assert dec.buffered <= 4096 + 18 + limits.max_chunk_size
    except ProtocolError:
        pass
