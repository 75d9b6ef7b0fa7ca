"""Handshake both sides, byte at a time, with plain and digest C1."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest

from media.rtmp.errors import HandshakeError, InvalidStateError
from media.rtmp.handshake import (
    GENUINE_FP_KEY,
    SIG_SIZE,
    ClientHandshake,
    ClientState,
    ServerHandshake,
    ServerState,
)


def fixed_random(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def plain_c1() -> bytes:
    return struct.pack(">II", 1234, 0) + (bytes(range(256)) * 6)[: SIG_SIZE - 8]


def digest_c1(scheme: int) -> bytes:
    sig = bytearray(struct.pack(">II", 0, 0x80000702) + bytes((7 * i) % 256 for i in range(1528)))
    base = 8 if scheme == 0 else 772
    off = sum(sig[base : base + 4]) % 728 + base + 4
    message = bytes(sig[:off] + sig[off + 32 :])
    sig[off : off + 32] = hmac.new(GENUINE_FP_KEY, message, hashlib.sha256).digest()
    return bytes(sig)


def test_server_plain_byte_at_a_time() -> None:
    hs = ServerHandshake(epoch_ms=5, random_bytes=fixed_random)
    c1 = plain_c1()
    client = b"\x03" + c1
    out = b""
    for i in range(len(client)):
        out += hs.feed(client[i : i + 1])
        if i < len(client) - 1:
            assert out == b""
    s1 = struct.pack(">II", 5, 0) + fixed_random(SIG_SIZE - 8)
    assert out == b"\x03" + s1 + c1
    assert hs.state is ServerState.AWAIT_C2 and hs.digest_scheme is None
    c2_and_more = s1 + b"\x02\x00"
    for i in range(len(c2_and_more)):
        assert hs.feed(c2_and_more[i : i + 1]) == b""
        if hs.state is ServerState.DONE:
            break
    assert hs.state is ServerState.DONE
    assert hs.remainder == b""  # the byte after C2 arrives on its own in this feed pattern


def test_server_keeps_remainder_and_refuses_more() -> None:
    hs = ServerHandshake(random_bytes=fixed_random)
    out = hs.feed(b"\x03" + plain_c1() + bytes(SIG_SIZE) + b"\x02rest")
    assert len(out) == 1 + 2 * SIG_SIZE
    assert hs.state is ServerState.DONE and hs.remainder == b"\x02rest"
    with pytest.raises(InvalidStateError):
        hs.feed(b"x")


@pytest.mark.parametrize("scheme", [0, 1])
def test_server_accepts_digest_c1(scheme: int) -> None:
    hs = ServerHandshake(random_bytes=fixed_random)
    c1 = digest_c1(scheme)
    out = hs.feed(b"\x03" + c1)
    assert hs.digest_scheme == scheme
    assert out[1 + 4 : 1 + 8] == b"\x00\x00\x00\x00"  # plain S1: clients skip validation
    assert out[1 + SIG_SIZE :] == c1


@pytest.mark.parametrize("version", [0, 6, 0x47])
def test_bad_version(version: int) -> None:
    with pytest.raises(HandshakeError):
        ServerHandshake().feed(bytes([version]))
    client = ClientHandshake()
    client.start()
    with pytest.raises(HandshakeError):
        client.feed(bytes([version]))


def test_client_byte_at_a_time() -> None:
    hs = ClientHandshake(epoch_ms=9, random_bytes=fixed_random)
    c0c1 = hs.start()
    assert c0c1 == b"\x03" + struct.pack(">II", 9, 0) + fixed_random(SIG_SIZE - 8)
    s1 = bytes(range(256)) * 6
    server = b"\x03" + s1 + c0c1[1:] + b"\x02"
    out = b""
    for i in range(len(server)):
        if hs.state is ClientState.DONE:
            break
        out += hs.feed(server[i : i + 1])
    assert out == s1 and hs.state is ClientState.DONE
    with pytest.raises(InvalidStateError):
        hs.start()


def test_client_remainder() -> None:
    hs = ClientHandshake()
    hs.start()
    assert hs.feed(b"\x03" + bytes(2 * SIG_SIZE) + b"abc") == bytes(SIG_SIZE)
    assert hs.remainder == b"abc"
