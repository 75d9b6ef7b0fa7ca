"""loadtest.whep_sendpath: its units are the publisher's H.264, packetized as the
room packetizes them (even FU-A fragments, none above aiortc's 1300 bytes)."""

from __future__ import annotations

from aiortc.codecs.h264 import H264PayloadDescriptor

from loadtest.whep_sendpath import video_units
from media.webrtc.payloads import even_fragments


def test_units_are_delta_frames_packetized_as_the_room_does() -> None:
    units = video_units(3)
    assert len(units) == 3
    for payloads in units:
        assert len(payloads) > 1 and all(len(p) <= 1300 for p in payloads)
        assert even_fragments(payloads) == payloads
        assert all(H264PayloadDescriptor.parse(p)[1] for p in payloads)
