"""Which datagrams from a peer are bitrate feedback we never act on (Sans-I/O).

A viewer's receiver sends REMB (``goog-remb``: RTCP payload-specific feedback, FMT 15,
application layer feedback, draft-alvestrand-rmcat-remb) as often as its bandwidth estimate
moves: aiortc's receiver sends one alone in a datagram, dozens a second under load. A sender
of passthrough media has no encoder to give the rate to (aiortc's sender only hands REMB to
its encoder), yet aiortc would queue, decrypt, parse and route each one on the event loop.
:func:`is_bitrate_feedback` spots such a datagram from its clear-text first header (SRTCP
leaves the first 8 bytes in the clear, RFC 3711 section 3.4), so the ICE layer can drop it
before any of that (:mod:`media.webrtc.ice`). A compound packet (Chromium puts REMB after a
receiver report) is left alone: its first packet is not feedback. The size check takes the
trailer of any profile aiortc negotiates, and no valid datagram of one profile has the size of
another's lone feedback (a second RTCP packet is 8 bytes at least).
"""

from __future__ import annotations

PSFB = 206  # RTCP payload-specific feedback, RFC 4585 section 6.1
AFB = 15  # application layer feedback (REMB)
# After the one RTCP packet, an SRTCP datagram has its E flag and index (4 bytes) and its tag:
# 10 bytes (AES_CM_128_HMAC_SHA1_80) or 16 (AEAD_AES_128_GCM, AEAD_AES_256_GCM, RFC 7714).
_TRAILERS = (4 + 10, 4 + 16)


def is_bitrate_feedback(datagram: bytes) -> bool:
    """Whether ``datagram`` is an SRTCP datagram holding one application layer feedback
    packet and nothing else."""
    if len(datagram) < 8 or datagram[0] >> 6 != 2 or datagram[1] != PSFB or datagram[0] & 0x1F != AFB:
        return False
    length = (int.from_bytes(datagram[2:4], "big") + 1) * 4
    return len(datagram) - length in _TRAILERS
