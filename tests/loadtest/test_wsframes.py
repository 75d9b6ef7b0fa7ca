"""The load generator's WebSocket core: handshake, masking, frame reading, byte tallies."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from loadtest import wsframes
from loadtest.drain import CHAT_PATTERN


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes([first, n]) + payload
    if n < 1 << 16:
        return bytes([first, 126]) + n.to_bytes(2, "big") + payload
    return bytes([first, 127]) + n.to_bytes(8, "big") + payload


def test_accept_key_matches_rfc6455_example() -> None:
    # RFC 6455 section 1.3
    assert wsframes.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_request_is_an_upgrade() -> None:
    req = wsframes.handshake_request("127.0.0.1:8080", "/ws/rooms/abc?token=t", "a2V5")
    assert req.startswith(b"GET /ws/rooms/abc?token=t HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert b"Upgrade: websocket\r\n" in req and b"Sec-WebSocket-Key: a2V5\r\n" in req
    assert req.endswith(b"\r\n\r\n")


def answer(key: str, status: str = "101 Switching Protocols") -> bytes:
    return (f"HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {wsframes.accept_for(key)}\r\n\r\n").encode()


def test_handshake_response_waits_for_the_whole_header_block_and_keeps_the_rest() -> None:
    key = wsframes.new_key()
    data = answer(key) + b"\x81\x02{}"
    for cut in range(len(data) - 4 - 3):  # every prefix short of the blank line
        assert wsframes.parse_handshake_response(data[:cut], key) is None
    parsed = wsframes.parse_handshake_response(data, key)
    assert parsed is not None and parsed.status == 101 and parsed.rest == b"\x81\x02{}"
    assert parsed.headers["upgrade"] == "websocket"


@pytest.mark.parametrize("data", [
    b"HTTP/1.1 403 Forbidden\r\n\r\n",
    b"SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
])
def test_handshake_refusals_are_errors(data: bytes) -> None:
    with pytest.raises(wsframes.HandshakeError):
        wsframes.parse_handshake_response(data, "dGhlIHNhbXBsZSBub25jZQ==")


def test_client_frame_is_masked_as_rfc6455_example() -> None:
    # RFC 6455 section 5.7: a masked "Hello"
    frame = wsframes.client_frame(wsframes.OP_TEXT, b"Hello", key=bytes.fromhex("37fa213d"))
    assert frame == bytes.fromhex("818537fa213d7f9f4d5158")


@given(st.binary(max_size=70000), st.binary(min_size=4, max_size=4))
def test_mask_is_its_own_inverse(payload: bytes, key: bytes) -> None:
    assert wsframes.mask(wsframes.mask(payload, key), key) == payload


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_client_frame_length_forms(size: int) -> None:
    frame = wsframes.client_frame(wsframes.OP_BINARY, b"a" * size, key=b"\0\0\0\0")
    assert frame.endswith(b"a" * size)
    assert len(frame) == size + 2 + 4 + (0 if size < 126 else 2 if size < 65536 else 8)


def test_reader_fed_one_byte_at_a_time() -> None:
    stream = (server_frame(wsframes.OP_TEXT, b'{"type":"snapshot"}') + server_frame(wsframes.OP_PING, b"")
              + server_frame(wsframes.OP_TEXT, b"x" * 300) + server_frame(wsframes.OP_CLOSE, b"\x03\xf4bye"))
    reader = wsframes.FrameReader()
    frames = [f for i in range(len(stream)) for f in reader.feed(stream[i:i + 1])]
    assert [(f.opcode, len(f.payload)) for f in frames] == [(1, 19), (9, 0), (1, 300), (8, 5)]
    assert frames[-1].close_code == 1012
    assert wsframes.FrameReader().feed(stream) == frames


@pytest.mark.parametrize("data", [
    b"\xc1\x00",  # RSV1 without an extension
    b"\x81\x80\0\0\0\0",  # masked server frame
    b"\x09\x00",  # fragmented ping
    b"\x89\x7e\x00\x7e" + b"x" * 126,  # ping over 125 bytes
])
def test_reader_rejects_what_a_server_must_not_send(data: bytes) -> None:
    with pytest.raises(wsframes.ProtocolError):
        wsframes.FrameReader().feed(data)


def test_reader_limits_payload_size() -> None:
    with pytest.raises(wsframes.ProtocolError):
        wsframes.FrameReader(max_payload=10).feed(b"\x81\x0b")


def event(seq: int) -> bytes:
    return server_frame(wsframes.OP_TEXT, b'{"type":"chat.message","seq":%d,"data":{"text":"hi"}}' % seq)


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_tally_counts_events_across_any_chunking(cuts: list[int]) -> None:
    stream = b"".join(event(i) for i in range(20)) + server_frame(wsframes.OP_TEXT, b'{"type":"ack","id":1}')
    tally = wsframes.ByteTally(CHAT_PATTERN)
    total, pos, i = 0, 0, 0
    while pos < len(stream):
        chunk = stream[pos:pos + cuts[i % len(cuts)]]
        buf = bytearray(chunk + b"junk")  # bytes past n must be ignored
        total += tally.feed(buf, len(chunk))[0]
        pos += len(chunk)
        i += 1
    assert total == 20
    assert tally.close_code is None


def test_tally_sees_pings_and_a_closing_frame() -> None:
    tally = wsframes.ByteTally(CHAT_PATTERN)
    data = event(1) + server_frame(wsframes.OP_PING, b"")
    assert tally.feed(data, len(data)) == (1, True)
    close = server_frame(wsframes.OP_CLOSE, b"\x03\xf4server restarting")
    assert tally.feed(close[:3], 3) == (0, False) and tally.close_code is None
    tally.feed(close[3:], len(close) - 3)
    assert tally.close_code == 1012
