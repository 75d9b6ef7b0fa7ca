"""media.webrtc.payloads.even_fragments against aiortc's H.264 packetizer and depacketizer: the
same NAL units in as many packets, each NAL unit's FU-A fragments of one size but the last."""

from __future__ import annotations

from aiortc.codecs.h264 import H264Encoder, H264PayloadDescriptor
from hypothesis import given
from hypothesis import strategies as st

from media.webrtc.gso import runs
from media.webrtc.payloads import FU_A, even_fragments


def _nal_data(payloads: list[bytes]) -> bytes:
    return b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads)


def _fragment_runs(payloads: list[bytes]) -> list[list[int]]:
    """The sizes of each NAL unit's FU-A fragments."""
    out: list[list[int]] = []
    for p in payloads:
        if p[0] & 0x1F == FU_A:
            if p[1] & 0x80:
                out.append([])
            out[-1].append(len(p))
    return out


@given(st.lists(st.binary(min_size=1, max_size=9000), min_size=1, max_size=6))
def test_the_same_nal_units_in_as_many_packets_each_of_one_size_but_the_last(bodies: list[bytes]) -> None:
    nals = [bytes([0x65]) + body for body in bodies]  # IDR slices, some above the 1300-byte packet
    payloads = H264Encoder._packetize(nals)
    even = even_fragments(payloads)
    assert _nal_data(even) == _nal_data(payloads)
    assert len(even) == len(payloads) and max(map(len, even)) <= max(map(len, payloads))
    assert [len(f) for f in _fragment_runs(even)] == [len(f) for f in _fragment_runs(payloads)]
    for sizes in _fragment_runs(even):
        assert all(size == sizes[0] for size in sizes[:-1]) and sizes[-1] <= sizes[0]
        assert len(runs(sizes)) == 1  # one sendmsg per NAL unit


def test_other_payloads_are_left_as_they_are() -> None:
    stap = H264Encoder._packetize([b"\x67" + b"\x01" * 20, b"\x68" + b"\x02" * 4])
    single = [b"\x41" + b"\x03" * 700]
    assert even_fragments(stap + single) == stap + single
    opened = H264Encoder._packetize([b"\x65" + b"\x04" * 4000])[:-1]  # no end fragment
    assert even_fragments(opened) == opened
    assert even_fragments(opened + single + opened + stap) == opened + single + opened + stap
    aiortc = H264Encoder._packetize([b"\x65" + b"\x05" * 3000])
    assert [len(p) for p in aiortc] == [1002, 1002, 1002]  # already even: no change
    assert even_fragments(aiortc) == aiortc
