"""SRTP protection in place, in one buffer a room's sender reuses for every viewer's packets.

pylibsrtp's ``Session.protect`` takes a packet as ``bytes`` and gives back new ``bytes``: for
each packet it allocates an ``int *``, copies the packet into the session's own buffer and
the protected packet out again, around one ``srtp_protect`` of libsrtp. The room's sender
(:mod:`media.webrtc.fanout`) copies each viewer's packets into one :class:`PacketBuffer`
anyway (a :class:`media.webrtc.rtpout.UnitImage` with the viewer's headers written over it), so :class:`Sealer` calls ``srtp_protect``
on them where they lie, with the viewer's session: the same libsrtp context, so the same
keys, rollover counter and replay list as the session's own ``protect`` (which still does the
retransmissions, and aiortc's RTCP). The protected packets then lie back to back in the
buffer, ready for one GSO ``sendmsg`` (:mod:`media.webrtc.gso`).

libsrtp 2's ``srtp_protect(ctx, packet, &length)`` works in place and appends the trailer (the
authentication tag: 10 bytes for AES_CM_128_HMAC_SHA1_80, 16 for the AEAD profiles, RFC 3711
section 4.2, RFC 7714 section 8). The packets are written with a gap of :attr:`Sealer.trailer`
bytes after each, which the trailer then fills; a packet whose trailer turns out to be
another length is moved up, and the gap learnt for the next unit.

This module is the one place that touches pylibsrtp's non-public parts (STYLE.md, habit 14):
``pylibsrtp._binding`` (its cffi ``ffi`` and ``lib.srtp_protect``) and ``Session._srtp`` (the
``srtp_t *``). :func:`check_pylibsrtp` fails loudly, naming what is missing, when their shape
changed; the server runs it at start-up and the tests run it.
"""

from __future__ import annotations

from typing import Any

import pylibsrtp
from pylibsrtp import Session

try:
    from pylibsrtp._binding import ffi, lib
except ImportError:  # pragma: no cover - reported by check_pylibsrtp
    ffi = lib = None

PROTECT_SIGNATURE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
MAX_TRAILER = 16
"""The most bytes protection adds to a packet, with any profile aiortc offers (no MKI): the
gap a session leaves before its first packet tells it its own."""


class PylibsrtpShapeChanged(RuntimeError):
    """pylibsrtp no longer has an internal this module relies on (the message names it)."""


class SrtpError(RuntimeError):
    """libsrtp refused to protect a packet (its status code in the message)."""


def check_pylibsrtp() -> None:
    """Raise ``PylibsrtpShapeChanged`` if pylibsrtp no longer has the internals used here."""
    problems = []
    if ffi is None or lib is None:
        problems.append("pylibsrtp._binding (ffi, lib)")
    elif ffi.getctype(ffi.typeof(getattr(lib, "srtp_protect", None) or ffi.NULL)) != PROTECT_SIGNATURE:
        problems.append(f"lib.srtp_protect as {PROTECT_SIGNATURE}")
    elif ffi.typeof(getattr(Session(), "_srtp", ffi.NULL)) != ffi.typeof("srtp_t *"):
        problems.append("Session._srtp (srtp_t *)")
    if problems:
        raise PylibsrtpShapeChanged(
            f"pylibsrtp {getattr(pylibsrtp, '__version__', '?')} changed shape, update media/webrtc/srtp.py; "
            "missing: " + ", ".join(problems)
        )


class PacketBuffer:
    """Where one viewer's unit is written, protected and sent from: one per room's sender,
    reused for every viewer (nothing awaits in between). It grows to the largest unit."""

    def __init__(self, size: int = 65_536) -> None:
        self._allocate(size)

    def _allocate(self, size: int) -> None:
        self.data = bytearray(size)
        self.view = memoryview(self.data)
        self.pointer: Any = ffi.from_buffer(self.data)

    def reserve(self, size: int) -> memoryview:
        """The buffer (its view: writing through a memoryview is the quicker), at least
        ``size`` bytes long."""
        if size > len(self.data):
            self.view.release()
            self.pointer = None
            self._allocate(max(size, 2 * len(self.data)))
        return self.view


class Sealer:
    """Protects packets in a :class:`PacketBuffer` with one pylibsrtp ``Session``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._context = session._srtp[0]
        self._length = ffi.new("int *")
        self.trailer = MAX_TRAILER
        """The bytes protection adds to a packet: the gap to leave after each."""

    def seal_one(self, buffer: PacketBuffer, clear: int) -> int:
        """Protect the one clear packet of ``clear`` bytes at the buffer's start (room for
        :data:`MAX_TRAILER` more after it); returns its protected length."""
        length = self._length
        length[0] = clear
        status = lib.srtp_protect(self._context, buffer.pointer, length)
        if status:
            raise SrtpError(f"srtp_protect failed: status {status}")
        size: int = length[0]
        self.trailer = size - clear
        return size

    def seal(self, buffer: PacketBuffer, spans: list[tuple[int, int]]) -> list[int]:
        """Protect the clear packets at ``spans`` (start, length: in order, apart by at least
        their trailer) and move them together; returns their protected lengths, which lie
        back to back from the first one's start."""
        protect = lib.srtp_protect
        context = self._context
        length = self._length
        pointer = buffer.pointer
        view = buffer.view
        gap = self.trailer
        sizes = []
        at = spans[0][0] if spans else 0
        for start, clear in spans:
            if start != at:
                view[at:at + clear] = view[start:start + clear]
            length[0] = clear
            status = protect(context, pointer + at, length)
            if status:
                raise SrtpError(f"srtp_protect failed: status {status}")
            size = length[0]
            if size > clear + gap:  # its trailer overwrote the next packet's start
                raise SrtpError(f"an SRTP trailer of {size - clear} bytes, {gap} expected")
            sizes.append(size)
            at += size
        if sizes:
            self.trailer = sizes[-1] - spans[-1][1]
        return sizes
