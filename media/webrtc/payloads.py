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
        self.made += 1
        self._entries[key] = (unit, config_record, payloads)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return payloads


def _packet(data: bytes) -> Packet:
    packet = av.Packet(data)
    packet.pts = 0
    packet.time_base = H264_TIME_BASE
    return packet
