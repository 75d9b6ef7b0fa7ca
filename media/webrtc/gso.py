"""Several UDP datagrams in one ``sendmsg`` with UDP generic segmentation offload (Linux).

With ``UDP_SEGMENT`` (``udp(7)``, Linux 4.18+) one ``sendmsg`` carries a buffer that the
kernel cuts into datagrams of ``segment`` bytes each, the last one possibly shorter: one
system call for a run of packets instead of one each. :func:`runs` finds such runs in a
list of packets (Sans-I/O); :class:`GsoSender` writes them on a socket of its own that shares
the ICE socket's file (a ``dup``, made when its first run goes out, so an audio stream never
holds one and asyncio's transport keeps its own), and falls back to the transport's
``sendto`` for a packet alone, or when the kernel refuses (then GSO stays off
for the process: :data:`state`).

A video access unit of aiortc's packetizer is a run or two per NAL unit: FU-A fragments of
one NAL differ in size by at most one byte, the larger first.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Sequence

UDP_SEGMENT = 103  # linux/udp.h
MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS in linux/udp.h (Linux 4.18)
MAX_BYTES = 65_000  # below the 65,507 bytes of a UDP datagram over IPv4
_REFUSED = {errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EIO}
_SEGMENTS = [struct.pack("@H", size) for size in range(2048)]  # UDP_SEGMENT's value by packet size
_ANCILLARY = [[(socket.SOL_UDP, UDP_SEGMENT, option)] for option in _SEGMENTS]  # sendmsg's, by packet size


class _State:
    enabled = True  # False once the kernel refused UDP_SEGMENT


state = _State()


def runs(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Cut packets of ``sizes`` into (start, end) runs that one GSO send can carry: every
    packet of a run as long as its first, except the last which may be shorter, at most
    :data:`MAX_SEGMENTS` packets and :data:`MAX_BYTES` bytes."""
    out = []
    start = 0
    while start < len(sizes):
        segment = sizes[start]
        end = start + 1
        total = segment
        while end < len(sizes) and end - start < MAX_SEGMENTS and total + sizes[end] <= MAX_BYTES:
            size = sizes[end]
            if size > segment:
                break
            total += size
            end += 1
            if size < segment:
                break
        out.append((start, end))
        start = end
    return out


Run = tuple[int, int, int, int]
"""One GSO send: offset and length in the buffer, segment size, packets."""


def plan(sizes: Sequence[int]) -> list[Run]:
    """The :func:`runs` of packets of ``sizes`` lying back to back, as :data:`Run` sends."""
    out = []
    offset = 0
    for start, end in runs(sizes):
        length = sum(sizes[start:end])
        out.append((offset, length, sizes[start], end - start))
        offset += length
    return out


def _ancillary(size: int) -> list[tuple[int, int, bytes]]:
    """The ``UDP_SEGMENT`` control message for segments of ``size`` (made once per size)."""
    return _ANCILLARY[size] if size < len(_ANCILLARY) else [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("@H", size))]


class GsoSender:
    """Sends runs of packets to one address on one asyncio datagram transport's socket."""

    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self.transport = transport
        self._sock: socket.socket | None = None
        self._dup_failed = False
        self.calls = 0

    def send(self, packets: Sequence[bytes], address: tuple[str, int]) -> None:
        """Send ``packets`` in as few calls as their :func:`runs` allow (copied together first:
        :meth:`send_plan` is the path that needs no copy)."""
        self.send_plan(memoryview(b"".join(packets)), plan([len(packet) for packet in packets]), address)

    def send_packed(self, view: memoryview, sizes: Sequence[int], address: tuple[str, int]) -> None:
        """:meth:`send` for packets of ``sizes`` that lie back to back in ``view`` from its start
        (a reused buffer: nothing of it is kept once this returns)."""
        self.send_plan(view, plan(sizes), address)

    def send_plan(self, view: memoryview, sends: Sequence[Run], address: tuple[str, int]) -> None:
        """:meth:`send_packed` with the packets' :func:`plan` made already (the same for every
        viewer sent the same unit)."""
        if len(sends) == 1:
            offset, length, _, count = sends[0]
            if count == 1:  # audio: one packet, no dup needed
                self.transport.sendto(view[offset:offset + length].tobytes(), address)
                return
        if not state.enabled:
            self._copies(view, sends, address)
            return
        sock = self._sock or self._dup()
        if sock is None:
            self._copies(view, sends, address)
            return
        for run in sends:
            offset, length, segment, count = run
            try:
                if count == 1:
                    sock.sendto(view[offset:offset + length], address)
                    continue
                sock.sendmsg([view[offset:offset + length]], _ancillary(segment), 0, address)
                self.calls += 1
            except BlockingIOError:  # the socket buffer is full: let asyncio queue them
                self._copies(view, [run], address)
            except OSError as exc:
                if exc.errno not in _REFUSED:
                    raise
                state.enabled = False
                self._copies(view, [run], address)

    def _copies(self, view: memoryview, sends: Sequence[Run], address: tuple[str, int]) -> None:
        for offset, length, segment, _count in sends:
            for at in range(offset, offset + length, segment):
                self.transport.sendto(bytes(view[at:min(at + segment, offset + length)]), address)

    def _dup(self) -> socket.socket | None:
        """Our own socket object on the transport's socket (made on the first run to send)."""
        raw = self.transport.get_extra_info("socket")
        if raw is None or self._dup_failed:
            return None
        try:
            self._sock = socket.fromfd(raw.fileno(), raw.family, socket.SOCK_DGRAM)
        except OSError:  # out of file descriptors: this stream sends one packet at a time
            self._dup_failed = True
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
