"""RTP payloads of a room's video, made once per hub unit and shared by every WHEP viewer.

aiortc's sender turns each frame a track gives it into RTP payloads (for H.264: split the Annex B
stream, then FU-A fragments and STAP-A aggregates, RFC 6184 sections 5.7 and 5.8) and then into
packets. Every viewer of a room reads the same :class:`~media.units.Unit` objects from the hub
(one object offered to every reader), so :class:`H264Payloads` keeps the payloads of the units
seen last, keyed by the unit's identity: the first viewer to send a unit packetizes it, the
others take the same list. What stays per viewer is what must: the RTP header (SSRC, sequence
number, timestamp, header extensions), SRTP, and the ``sendto``.

The cache holds at most :data:`CACHE_UNITS` units (a few seconds of video): a viewer further
behind than that still gets correct payloads, it just makes its own.
"""

from __future__ import annotations

import fractions
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import av
from aiortc.codecs.h264 import H264Encoder

from media.h264 import AvcDecoderConfig
from media.units import Unit
from media.webrtc.annexb import avcc_to_annexb

if TYPE_CHECKING:
    Packet = av.Packet[Any]
else:
    Packet = av.Packet

CACHE_UNITS = 256
FU_A = 28  # NAL unit type of an FU-A fragment
H264_TIME_BASE = fractions.Fraction(1, 90_000)


class H264Payloads:
    """The RTP payloads of one room's H.264 units, shared by its viewers; see the module docstring."""

    def __init__(self, capacity: int = CACHE_UNITS) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[int, tuple[Unit, bytes | None, list[bytes]]] = OrderedDict()
        self._packer = H264Encoder()  # only its packetizer is used, never its encoder
        self.made = 0
        self.shared = 0

    def get(self, unit: Unit, length_size: int, config: AvcDecoderConfig | None,
            config_record: bytes | None) -> list[bytes]:
        """The payloads of ``unit``; a keyframe gets ``config``'s SPS/PPS in front (so a viewer
        can start there). ``config_record`` (the avcC bytes ``config`` came from) is part of the
        key: a viewer only shares with viewers that hold the same configuration."""
        key = id(unit)  # stable while the entry holds the unit
        entry = self._entries.get(key)
        if entry is not None and entry[0] is unit and entry[1] == config_record:
            self.shared += 1
            return entry[2]
        data = avcc_to_annexb(unit.payload, length_size, config if unit.keyframe else None)
        payloads, _ = self._packer.pack(_packet(data))
        payloads = even_fragments(payloads)
        self.made += 1
        self._entries[key] = (unit, config_record, payloads)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return payloads


def even_fragments(payloads: list[bytes]) -> list[bytes]:
    """``payloads`` with each NAL unit's FU-A fragments (RFC 6184 section 5.8) cut again into as
    many pieces, all of one size but the last, which may be shorter.

    aiortc cuts a NAL unit into fragments that differ by at most one byte, the larger first:
    then a unit's packets form two runs of equal sizes where one would do, and each run is a
    ``sendmsg`` per viewer (:mod:`media.webrtc.gso`). Same NAL units, same number of packets,
    none longer than before."""
    out: list[bytes] = []
    start = None
    for i, payload in enumerate(payloads):
        fragment = len(payload) >= 2 and payload[0] & 0x1F == FU_A
        if start is not None and (not fragment or payload[1] & 0x80):  # a NAL unit left open: as it came
            out += payloads[start:i]
            start = None
        if not fragment:
            out.append(payload)
            continue
        if payload[1] & 0x80:  # start bit
            start = i
        if start is None or not payload[1] & 0x40:  # no end bit yet
            if start is None:
                out.append(payload)
            continue
        out += _even(payloads[start:i + 1])
        start = None
    if start is not None:  # a NAL unit left open: as it came
        out += payloads[start:]
    return out


def _even(fragments: list[bytes]) -> list[bytes]:
    count = len(fragments)
    data = b"".join(f[2:] for f in fragments)
    size = -(-len(data) // count)
    pieces = [data[at:at + size] for at in range(0, len(data), size)]
    if count < 2 or len(pieces) != count:
        return fragments
    indicator, nal = fragments[0][0], fragments[0][1] & 0x1F
    headers = [bytes([indicator, nal | 0x80])] + [bytes([indicator, nal])] * (count - 2) + [bytes([indicator, nal | 0x40])]
    return [header + piece for header, piece in zip(headers, pieces, strict=True)]


def _packet(data: bytes) -> Packet:
    packet = av.Packet(data)
    packet.pts = 0
    packet.time_base = H264_TIME_BASE
    return packet
