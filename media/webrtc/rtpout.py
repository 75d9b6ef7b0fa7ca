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

    The history keeps, for each of the last :data:`HISTORY` sequence numbers, the access unit
    it was sent in (its shared payloads, RTP timestamp and extension block), not a copy of the
    packet: a NACKed packet is written again from it, byte for byte."""

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
        self._history: list[_Sent | None] = [None] * HISTORY
        self.packet_count = 0
        self.octet_count = 0
        self.rtp_timestamp = 0
        self._block_parts = _block_parts(extensions, mid)

    @property
    def sequence_number(self) -> int:
        """The sequence number of the next packet."""
        return self._sequence_number

    def packets(self, payloads: Sequence[bytes], timestamp: int, ntp_time: int) -> list[bytes]:
        """The packets of one access unit (``timestamp`` counted from this stream's origin, at
        ``ntp_time``), remembered for retransmission and counted for Sender Reports."""
        sent = self._sent(payloads, timestamp, ntp_time)
        first = _VERSION | (_EXTENSION if sent.block else 0)
        last = len(payloads) - 1
        pack = _FIXED.pack
        return [pack(first, self.payload_type | (0x80 if i == last else 0), (sent.sequence_number + i) & 0xFFFF,
                     sent.rtp_timestamp, self.ssrc) + sent.block + payload
                for i, payload in enumerate(payloads)]

    def write(self, buffer: memoryview, payloads: Sequence[bytes], timestamp: int, ntp_time: int,
              gap: int) -> list[tuple[int, int]]:
        """The packets of :meth:`packets`, written into ``buffer`` (writable bytes, at least
        :meth:`space` long) from its start instead, each followed by ``gap`` unused bytes (room
        for an SRTP trailer); returns each packet's (start, length)."""
        sent = self._sent(payloads, timestamp, ntp_time)
        block = sent.block
        first = _VERSION | (_EXTENSION if block else 0)
        header = 12 + len(block)
        marked = len(payloads) - 1
        seq = sent.sequence_number
        rtp_timestamp = sent.rtp_timestamp
        ssrc = self.ssrc
        payload_type = self.payload_type
        pack_into = _FIXED.pack_into
        spans = []
        start = 0
        for i, payload in enumerate(payloads):
            pack_into(buffer, start, first, payload_type | (0x80 if i == marked else 0), seq, rtp_timestamp, ssrc)
            body = start + header
            buffer[start + 12:body] = block
            end = body + len(payload)
            buffer[body:end] = payload
            spans.append((start, end - start))
            seq = (seq + 1) & 0xFFFF
            start = end + gap
        return spans

    def space(self, payloads: Sequence[bytes], gap: int) -> int:
        """The bytes :meth:`write` needs for ``payloads``."""
        return sum(map(len, payloads)) + len(payloads) * (12 + self._block_length + gap)

    @property
    def _block_length(self) -> int:
        return len(self._block_parts[0]) + len(self._block_parts[1]) + (3 if self.extensions.abs_send_time_id else 0)

    def _sent(self, payloads: Sequence[bytes], timestamp: int, ntp_time: int) -> _Sent:
        """Take the sequence numbers of one unit: note it in the history and the counts."""
        head, tail = self._block_parts
        if self.extensions.abs_send_time_id:
            block = head + abs_send_time(ntp_time).to_bytes(3, "big") + tail
        else:
            block = head
        sent = _Sent(self._sequence_number, (self.timestamp_origin + timestamp) & 0xFFFFFFFF, block, payloads)
        history = self._history
        seq = self._sequence_number
        for _ in payloads:
            history[seq % HISTORY] = sent
            seq = (seq + 1) & 0xFFFF
        self._sequence_number = seq
        self.packet_count += len(payloads)
        self.octet_count += sum(map(len, payloads))
        self.rtp_timestamp = sent.rtp_timestamp
        return sent

    def retransmission(self, sequence_number: int) -> bytes | None:
        """The packet ``sequence_number`` again (as RTX when negotiated), or None when it is no
        longer (or never was) in the history."""
        sent = self._history[sequence_number % HISTORY]
        index = (sequence_number - sent.sequence_number) & 0xFFFF if sent is not None else HISTORY
        if sent is None or index >= len(sent.payloads) or (self._sequence_number - 1 - sequence_number) & 0xFFFF >= HISTORY:
            return None
        first = _VERSION | (_EXTENSION if sent.block else 0)
        marker = 0x80 if index == len(sent.payloads) - 1 else 0
        packet = (_FIXED.pack(first, marker | self.payload_type, sequence_number, sent.rtp_timestamp, self.ssrc)
                  + sent.block + sent.payloads[index])
        if self.rtx is None:
            return packet
        start = _header_length(packet)
        header = _FIXED.pack(packet[0], marker | self.rtx.payload_type, self._rtx_sequence_number,
                             _timestamp(packet), self.rtx.ssrc)
        self._rtx_sequence_number = (self._rtx_sequence_number + 1) & 0xFFFF
        return header + packet[12:start] + packet[2:4] + packet[start:]


class _Sent(NamedTuple):
    """One access unit as a stream sent it: what its history keeps."""

    sequence_number: int  # of its first packet
    rtp_timestamp: int
    block: bytes
    payloads: Sequence[bytes]


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
