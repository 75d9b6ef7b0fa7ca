"""One outgoing RTP stream: headers written over shared payloads, its history and counters.

Sans-I/O (STYLE.md, habit 1): :class:`RtpOut` turns an access unit's RTP payloads (shared by
every viewer of a room, :mod:`media.webrtc.payloads`) into this stream's packets, still in
the clear, and keeps what the stream's RTCP needs: the last :data:`HISTORY` packets to answer
a NACK (RFC 4585 section 6.2.1), wrapped as RTX when negotiated (RFC 4588 section 4), and the
Sender Report's packet and octet counts and last RTP timestamp (RFC 3550 section 6.4.1). SRTP
and the socket are the caller's.

The bytes are the ones aiortc's ``RTCRtpSender`` writes (RFC 3550 section 5.1): version 2, no
padding or CSRC, the marker on the last packet of an access unit, and the header extensions
aiortc fills on send, ``sdes:mid`` and ``abs-send-time``, in that order, in the one-byte form
(RFC 8285 section 4.2) unless an id needs the two-byte one. Sequence numbers and the timestamp
origin are given (aiortc draws them at random).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

HISTORY = 128  # aiortc's RTP_HISTORY_SIZE: packets kept for retransmission
_FIXED = struct.Struct("!BBHII")
_VERSION = 0x80
_EXTENSION = 0x10
_ONE_BYTE = 0xBEDE
_TWO_BYTE = 0x1000


@dataclass(frozen=True)
class Rtx:
    """The retransmission stream of RFC 4588: its payload type and SSRC."""

    payload_type: int
    ssrc: int


@dataclass(frozen=True)
class Extensions:
    """The negotiated ids (0: not negotiated) of the header extensions aiortc writes."""

    mid_id: int = 0
    abs_send_time_id: int = 0

    def block(self, mid: str | None, abs_send_time: int) -> bytes:
        """The header extension block (profile, length, elements, padding), or b"" for none."""
        items: list[tuple[int, bytes]] = []
        if self.mid_id and mid is not None:
            items.append((self.mid_id, mid.encode()))
        if self.abs_send_time_id:
            items.append((self.abs_send_time_id, (abs_send_time & 0xFFFFFF).to_bytes(3, "big")))
        if not items:
            return b""
        if all(0 < x_id <= 14 and 0 < len(value) <= 16 for x_id, value in items):
            profile = _ONE_BYTE
            body = b"".join(bytes([(x_id << 4) | (len(value) - 1)]) + value for x_id, value in items)
        else:
            profile = _TWO_BYTE
            body = b"".join(bytes([x_id, len(value)]) + value for x_id, value in items)
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("!HH", profile, len(body) // 4) + body


def abs_send_time(ntp_time: int) -> int:
    """The 24-bit abs-send-time of a 64-bit NTP time (6.18 fixed point seconds)."""
    return (ntp_time >> 14) & 0xFFFFFF


class RtpOut:
    """One viewer's outgoing RTP stream of one track; see the module docstring.

    The history keeps the last :data:`HISTORY` access units as sent (their shared payloads, RTP
    timestamp and extension block), not copies of the packets: a NACKed packet among the last
    :data:`HISTORY` sent is written again from its unit, byte for byte."""

    def __init__(self, *, ssrc: int, payload_type: int, sequence_number: int, timestamp_origin: int,
                 mid: str | None = None, extensions: Extensions = Extensions(),
                 rtx: Rtx | None = None, rtx_sequence_number: int = 0) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.mid = mid
        self.extensions = extensions
        self.rtx = rtx
        self.timestamp_origin = timestamp_origin
        self._sequence_number = sequence_number & 0xFFFF
        self._rtx_sequence_number = rtx_sequence_number & 0xFFFF
        self._history: deque[Sent] = deque(maxlen=HISTORY)
        self.packet_count = 0
        self.octet_count = 0
        self.rtp_timestamp = 0
        self._block_parts = _block_parts(extensions, mid)
        self._has_abs_send_time = bool(extensions.abs_send_time_id)
        self._first = _VERSION | (_EXTENSION if self._block_parts[0] else 0)

    @property
    def sequence_number(self) -> int:
        """The sequence number of the next packet."""
        return self._sequence_number

    def packets(self, payloads: Sequence[bytes], timestamp: int, ntp_time: int) -> list[bytes]:
        """The packets of one access unit (``timestamp`` counted from this stream's origin, at
        ``ntp_time``), remembered for retransmission and counted for Sender Reports."""
        sent = self.take(payloads, timestamp, ntp_time)
        last = len(payloads) - 1
        pack = _FIXED.pack
        return [pack(self._first, self.payload_type | (0x80 if i == last else 0), (sent.sequence_number + i) & 0xFFFF,
                     sent.rtp_timestamp, self.ssrc) + sent.block + payload
                for i, payload in enumerate(payloads)]

    def take(self, payloads: Sequence[bytes], timestamp: int, ntp_time: int) -> Sent:
        """What :meth:`packets` notes, without the packets: the unit's sequence numbers,
        timestamp and extension block, for :meth:`write_headers` over a :class:`UnitImage`."""
        return self.take_with(payloads, timestamp, self.block(ntp_time), sum(map(len, payloads)))

    def block(self, ntp_time: int) -> bytes:
        """The header extension block of a unit sent at ``ntp_time``."""
        head, tail = self._block_parts
        return head + abs_send_time(ntp_time).to_bytes(3, "big") + tail if self._has_abs_send_time else head

    def take_with(self, payloads: Sequence[bytes], timestamp: int, block: bytes, octets: int) -> Sent:
        """:meth:`take` with the unit's :meth:`block` and payload bytes (``octets``) known."""
        rtp_timestamp = (self.timestamp_origin + timestamp) & 0xFFFFFFFF
        sequence_number = self._sequence_number
        sent = Sent(sequence_number, rtp_timestamp, block, payloads)
        self._history.append(sent)
        count = len(payloads)
        self._sequence_number = (sequence_number + count) & 0xFFFF
        self.packet_count += count
        self.octet_count += octets
        self.rtp_timestamp = rtp_timestamp
        return sent

    def write_headers(self, buffer: memoryview, spans: Sequence[tuple[int, int]], sent: Sent) -> None:
        """Write the fixed RTP headers of ``sent`` (from :meth:`take`) into ``buffer`` at each
        of ``spans``' starts: a copy of the unit's :class:`UnitImage` made for ``sent.block``
        becomes this stream's packets, as :meth:`packets` makes them."""
        pack_into = _FIXED.pack_into
        first = self._first
        payload_type = self.payload_type
        seq = sent.sequence_number
        rtp_timestamp = sent.rtp_timestamp
        ssrc = self.ssrc
        for start, _ in spans:
            pack_into(buffer, start, first, payload_type, seq, rtp_timestamp, ssrc)
            seq = (seq + 1) & 0xFFFF
        buffer[spans[-1][0] + 1] = payload_type | 0x80  # the marker on the unit's last packet

    def write_packet(self, buffer: memoryview, sent: Sent) -> int:
        """Write the one packet of ``sent`` (a unit of one payload, from :meth:`take`) at the
        start of ``buffer``, as :meth:`packets` makes it; returns its length. What
        :meth:`write_headers` over a :class:`UnitImage` does for a unit of one packet (an Opus
        packet), without the image."""
        block = sent.block
        payload = sent.payloads[0]
        _FIXED.pack_into(buffer, 0, self._first, self.payload_type | 0x80, sent.sequence_number, sent.rtp_timestamp,
                         self.ssrc)
        end = 12 + len(block)
        buffer[12:end] = block
        size = end + len(payload)
        buffer[end:size] = payload
        return size

    def retransmission(self, sequence_number: int) -> bytes | None:
        """The packet ``sequence_number`` again (as RTX when negotiated), or None when it is no
        longer (or never was) among the last :data:`HISTORY` sent."""
        if (self._sequence_number - 1 - sequence_number) & 0xFFFF >= HISTORY:
            return None
        for sent in reversed(self._history):
            index = (sequence_number - sent.sequence_number) & 0xFFFF
            if index < len(sent.payloads):
                break
        else:
            return None
        marker = 0x80 if index == len(sent.payloads) - 1 else 0
        packet = (_FIXED.pack(self._first, marker | self.payload_type, sequence_number, sent.rtp_timestamp, self.ssrc)
                  + sent.block + sent.payloads[index])
        if self.rtx is None:
            return packet
        start = _header_length(packet)
        header = _FIXED.pack(packet[0], marker | self.rtx.payload_type, self._rtx_sequence_number,
                             _timestamp(packet), self.rtx.ssrc)
        self._rtx_sequence_number = (self._rtx_sequence_number + 1) & 0xFFFF
        return header + packet[12:start] + packet[2:4] + packet[start:]


class Sent(NamedTuple):
    """One access unit as a stream sent it: what its history keeps."""

    sequence_number: int  # of its first packet
    rtp_timestamp: int
    block: bytes
    payloads: Sequence[bytes]


class UnitImage:
    """One access unit's packets with blank fixed headers: its extension block and payloads,
    each packet followed by ``gap`` bytes of room (for an SRTP trailer). Every stream of a room
    that sends the unit with the same block copies it and writes its own headers over it
    (:meth:`RtpOut.write_headers`): one copy per stream where each packet was put together
    piece by piece."""

    def __init__(self, payloads: Sequence[bytes], block: bytes, gap: int) -> None:
        head = bytes(12) + block
        pad = bytes(gap)
        self.payloads = payloads
        self.block = block
        self.gap = gap
        self.data = b"".join([head + payload + pad for payload in payloads])
        self.octets = sum(map(len, payloads))
        """The payloads' bytes (what a Sender Report counts)."""
        self.spans: list[tuple[int, int]] = []
        """Each packet's (start, length) in :attr:`data`, its gap left out."""
        start = 0
        for payload in payloads:
            length = len(head) + len(payload)
            self.spans.append((start, length))
            start += length + gap


def _block_parts(extensions: Extensions, mid: str | None) -> tuple[bytes, bytes]:
    """The extension block around its 3 abs-send-time bytes (the whole block and b"" when it
    has none): the rest of it is the same for every packet of the stream."""
    block = extensions.block(mid, 0)
    if not extensions.abs_send_time_id:
        return block, b""
    changed = [i for i, (a, b) in enumerate(zip(block, extensions.block(mid, 0xFFFFFF), strict=True)) if a != b]
    return block[:changed[0]], block[changed[0] + 3:]


def _header_length(packet: bytes) -> int:
    """Fixed header, CSRCs and header extension: where the payload starts."""
    length = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & _EXTENSION:
        length += 4 + 4 * int.from_bytes(packet[length + 2:length + 4], "big")
    return length


def _timestamp(packet: bytes) -> int:
    return int.from_bytes(packet[4:8], "big")
