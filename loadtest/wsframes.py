"""A minimal WebSocket client core (RFC 6455), Sans-I/O, for load generators.

Only what a load generator needs: build the opening handshake (section 4.1) and check the
answer (4.2.2), encode masked client frames (5.2, 5.3), and read server frames one chunk
of bytes at a time (``FrameReader``). Nothing here does I/O or imports asyncio.

Two readers, because the generator has two kinds of connection:

* ``FrameReader`` parses every frame (probes: they decode each event and time it).
* ``ByteTally`` does not parse frames at all (sinks: ten thousand of them must stay cheap).
  It counts occurrences of a byte pattern (``"type":"chat.message"``) across chunk
  boundaries and spots control frames (ping, close) by their first byte. It relies on the
  server sending unmasked frames (RFC 6455 5.1) whose text payloads are compact JSON; a
  false ping match costs an unsolicited pong, which RFC 6455 5.5.3 allows.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MAX_CONTROL_PAYLOAD = 125


class ProtocolError(Exception):
    """The server sent bytes that are not a WebSocket stream we can follow."""


class HandshakeError(ProtocolError):
    """The server did not switch protocols as RFC 6455 4.2.2 says it must."""


# --- opening handshake ------------------------------------------------------------------


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key: str) -> str:
    """``Sec-WebSocket-Accept`` the server must answer for ``key`` (4.2.2 step 5.4)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def handshake_request(host: str, target: str, key: str, extra: dict[str, str] | None = None) -> bytes:
    """The client's upgrade request: ``target`` is the path and query, e.g. ``/ws/rooms/x?token=t``."""
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class HandshakeResponse:
    status: int
    headers: dict[str, str]
    """Header names lower-cased."""
    rest: bytes
    """Bytes after the header block: the first frames, already on the wire."""


def parse_handshake_response(data: bytes, key: str) -> HandshakeResponse | None:
    """Parse the server's answer once ``data`` holds the whole header block, else ``None``.

    Raises ``HandshakeError`` if the server refused or answered wrongly.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > 16384:
            raise HandshakeError("handshake answer has no end of headers in 16 KiB")
        return None
    head = data[:end].decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HandshakeError(f"not an HTTP status line: {head[0]!r}")
    headers = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    status = int(parts[1])
    if status != 101:
        raise HandshakeError(f"server answered {head[0]!r}, not 101")
    if headers.get("sec-websocket-accept") != accept_for(key):
        raise HandshakeError("wrong Sec-WebSocket-Accept")
    return HandshakeResponse(status, headers, data[end + 4:])


# --- frames ------------------------------------------------------------------------------


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking ``key`` (5.3), as one big-integer operation."""
    if not payload:
        return b""
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """One final, masked client frame (clients must mask, 5.1)."""
    key = os.urandom(4) if key is None else key
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + mask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        """The status code of a close frame (5.5.1); 1005 when it carries none."""
        if self.opcode != OP_CLOSE:
            return None
        return int.from_bytes(self.payload[:2], "big") if len(self.payload) >= 2 else 1005


class FrameReader:
    """Feed bytes, get whole server frames; fragments are returned as they come (fin flag)."""

    def __init__(self, max_payload: int = 16 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._max = max_payload

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def _next(self) -> Frame | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise ProtocolError("reserved bits set; no extension was negotiated")
        if b1 & 0x80:
            raise ProtocolError("server frames must not be masked")
        n, pos = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, pos = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, pos = int.from_bytes(buf[2:10], "big"), 10
        opcode = b0 & 0x0F
        if opcode >= OP_CLOSE and (n > MAX_CONTROL_PAYLOAD or not b0 & 0x80):
            raise ProtocolError("control frames are final and carry at most 125 bytes")
        if n > self._max:
            raise ProtocolError(f"frame of {n} bytes is over the {self._max} byte limit")
        if len(buf) < pos + n:
            return None
        frame = Frame(bool(b0 & 0x80), opcode, bytes(buf[pos:pos + n]))
        del buf[:pos + n]
        return frame


class ByteTally:
    """Count a pattern in a server byte stream without parsing frames (see module docstring).

    ``feed`` takes a buffer and the number of valid bytes in it, so the caller can reuse one
    receive buffer for every socket. It returns the pattern count in those bytes (matches
    that straddle the previous chunk included) and whether a ping byte was seen. After a
    chunk, ``close_code`` is set if the chunk ended with a whole close frame.
    """

    __slots__ = ("_pattern", "_tail", "close_code")

    TAIL = 2 + MAX_CONTROL_PAYLOAD

    def __init__(self, pattern: bytes) -> None:
        self._pattern = pattern
        self._tail = b""
        self.close_code: int | None = None

    def feed(self, buf: bytearray | bytes, n: int) -> tuple[int, bool]:
        pat = self._pattern
        count = buf.count(pat, 0, n)
        span = len(pat) - 1
        if self._tail:
            edge = self._tail[-span:] + bytes(buf[:min(span, n)])
            count += edge.count(pat)
        tail = self._tail + bytes(buf[:n]) if n < self.TAIL else bytes(buf[n - self.TAIL:n])
        self._tail = tail[-self.TAIL:]
        self._check_close()
        return count, buf.find(b"\x89", 0, n) >= 0

    def _check_close(self) -> None:
        tail = self._tail
        i = tail.rfind(b"\x88", 0, len(tail) - 1)
        while i >= 0:
            size = tail[i + 1]
            if size <= MAX_CONTROL_PAYLOAD and i + 2 + size == len(tail):
                self.close_code = int.from_bytes(tail[i + 2:i + 4], "big") if size >= 2 else 1005
                return
            i = tail.rfind(b"\x88", 0, i)
