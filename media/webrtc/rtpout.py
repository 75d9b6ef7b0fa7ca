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

HISTORY = 128  # aiortc's RTP_HISTORY_SIZE: packets kept for retransmission
_FIXED = struct.Struct("!BBHII")
_SEQ = struct.Struct("!H")
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
    """One viewer's outgoing RTP stream of one track; see the module docstring."""

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
        self._history: list[bytes | None] = [None] * HISTORY
        self.packet_count = 0
        self.octet_count = 0
        self.rtp_timestamp = 0

    @property
    def sequence_number(self) -> int:
        """The sequence number of the next packet."""
        return self._sequence_number

    def packets(self, payloads: Sequence[bytes], timestamp: int, ntp_time: int) -> list[bytes]:
        """The packets of one access unit (``timestamp`` counted from this stream's origin, at
        ``ntp_time``), remembered for retransmission and counted for Sender Reports."""
        rtp_timestamp = (self.timestamp_origin + timestamp) & 0xFFFFFFFF
        block = self.extensions.block(self.mid, abs_send_time(ntp_time))
        first = _VERSION | (_EXTENSION if block else 0)
        last = len(payloads) - 1
        seq = self._sequence_number
        history = self._history
        pack = _FIXED.pack
        out = []
        for i, payload in enumerate(payloads):
            second = self.payload_type | (0x80 if i == last else 0)
            packet = pack(first, second, seq, rtp_timestamp, self.ssrc) + block + payload
            history[seq % HISTORY] = packet
            out.append(packet)
            self.octet_count += len(payload)
            seq = (seq + 1) & 0xFFFF
        self._sequence_number = seq
        self.packet_count += len(out)
        self.rtp_timestamp = rtp_timestamp
        return out

    def retransmission(self, sequence_number: int) -> bytes | None:
        """The packet ``sequence_number`` again (as RTX when negotiated), or None when it is no
        longer (or never was) in the history."""
        packet = self._history[sequence_number % HISTORY]
        if packet is None or _SEQ.unpack_from(packet, 2)[0] != sequence_number:
            return None
        if self.rtx is None:
            return packet
        start = _header_length(packet)
        marker = packet[1] & 0x80
        header = _FIXED.pack(packet[0], marker | self.rtx.payload_type, self._rtx_sequence_number,
                             _timestamp(packet), self.rtx.ssrc)
        self._rtx_sequence_number = (self._rtx_sequence_number + 1) & 0xFFFF
        return header + packet[12:start] + packet[2:4] + packet[start:]


def _header_length(packet: bytes) -> int:
    """Fixed header, CSRCs and header extension: where the payload starts."""
    length = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & _EXTENSION:
        length += 4 + 4 * int.from_bytes(packet[length + 2:length + 4], "big")
    return length


def _timestamp(packet: bytes) -> int:
    return int.from_bytes(packet[4:8], "big")
