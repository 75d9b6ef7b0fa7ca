"""The RTMP handshake (spec section 5.2), both sides, Sans-I/O.

Rules:

* C0/S0 is one byte, version 3.  Anything else (6 is RTMPE) is a ``HandshakeError``.
* C1/S1/C2/S2 are 1536 bytes: time (4), zero or version (4), 1528 random bytes.
* The server accepts a plain C1 and the Flash-style "digest" C1 (an HMAC-SHA256
  at one of two offsets, as librtmp and ffmpeg send).  Either way it answers
  with a *plain* S1 (bytes 4..8 zero): ffmpeg and librtmp (OBS) then skip
  digest validation, and S2 echoes C1 as the plain scheme requires.
* C2 content is not checked: clients are sloppy about it and it proves nothing.
* Bytes that arrive after C2 (the first chunks) are kept in ``remainder``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import struct
from collections.abc import Callable

from .errors import HandshakeError, InvalidStateError

VERSION = 3
SIG_SIZE = 1536
GENUINE_FP_KEY = b"Genuine Adobe Flash Player 001"
_DIGEST_LEN = 32


class ServerState(enum.Enum):
    AWAIT_C0C1 = "await_c0c1"
    AWAIT_C2 = "await_c2"
    DONE = "done"


class ClientState(enum.Enum):
    START = "start"
    AWAIT_S0S1S2 = "await_s0s1s2"
    DONE = "done"


def _digest_offset(sig: bytes, scheme: int) -> int:
    base = 8 if scheme == 0 else 772
    return sum(sig[base : base + 4]) % 728 + base + 4


def find_client_digest(c1: bytes) -> int | None:
    """Return the scheme (0 or 1) whose HMAC digest C1 carries, or None for plain."""
    for scheme in (0, 1):
        off = _digest_offset(c1, scheme)
        message = c1[:off] + c1[off + _DIGEST_LEN :]
        expected = hmac.new(GENUINE_FP_KEY, message, hashlib.sha256).digest()
        if hmac.compare_digest(expected, c1[off : off + _DIGEST_LEN]):
            return scheme
    return None


def make_signature(epoch_ms: int, random_bytes: Callable[[int], bytes]) -> bytes:
    """A plain C1/S1: time, four zero bytes, random filler."""
    return struct.pack(">II", epoch_ms & 0xFFFFFFFF, 0) + random_bytes(SIG_SIZE - 8)


class ServerHandshake:
    """Feed client bytes; get S0+S1+S2 back; ``state`` reaches DONE after C2."""

    def __init__(self, epoch_ms: int = 0, random_bytes: Callable[[int], bytes] = os.urandom):
        self.state = ServerState.AWAIT_C0C1
        self.remainder = b""
        self.digest_scheme: int | None = None
        self._buf = bytearray()
        self._s1 = make_signature(epoch_ms, random_bytes)

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; return the bytes to send (S0+S1+S2 once C1 is complete)."""
        if self.state is ServerState.DONE:
            raise InvalidStateError("handshake already complete")
        self._buf += data
        out = b""
        if self.state is ServerState.AWAIT_C0C1:
            if self._buf and self._buf[0] != VERSION:
                raise HandshakeError(f"unsupported RTMP version {self._buf[0]} in C0")
            if len(self._buf) < 1 + SIG_SIZE:
                return b""
            c1 = bytes(self._buf[1 : 1 + SIG_SIZE])
            del self._buf[: 1 + SIG_SIZE]
            self.digest_scheme = find_client_digest(c1)
            self.state = ServerState.AWAIT_C2
            out = bytes([VERSION]) + self._s1 + c1
        if self.state is ServerState.AWAIT_C2 and len(self._buf) >= SIG_SIZE:
            self.remainder = bytes(self._buf[SIG_SIZE:])
            self._buf.clear()
            self.state = ServerState.DONE
        return out


class ClientHandshake:
    """``start()`` gives C0+C1; feed server bytes; the answer is C2; then DONE."""

    def __init__(self, epoch_ms: int = 0, random_bytes: Callable[[int], bytes] = os.urandom):
        self.state = ClientState.START
        self.remainder = b""
        self._buf = bytearray()
        self._c1 = make_signature(epoch_ms, random_bytes)

    def start(self) -> bytes:
        if self.state is not ClientState.START:
            raise InvalidStateError("handshake already started")
        self.state = ClientState.AWAIT_S0S1S2
        return bytes([VERSION]) + self._c1

    def feed(self, data: bytes) -> bytes:
        """Consume server bytes; return C2 (an echo of S1) once S0+S1+S2 are complete."""
        if self.state is not ClientState.AWAIT_S0S1S2:
            raise InvalidStateError(f"cannot feed handshake bytes in state {self.state.value}")
        self._buf += data
        if self._buf and self._buf[0] != VERSION:
            raise HandshakeError(f"unsupported RTMP version {self._buf[0]} in S0")
        if len(self._buf) < 1 + 2 * SIG_SIZE:
            return b""
        s1 = bytes(self._buf[1 : 1 + SIG_SIZE])
        self.remainder = bytes(self._buf[1 + 2 * SIG_SIZE :])
        self._buf.clear()
        self.state = ClientState.DONE
        return s1
