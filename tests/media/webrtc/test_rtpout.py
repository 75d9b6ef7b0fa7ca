"""media.webrtc.rtpout against aiortc's own RTP serializer and parser (the bytes aiortc's
sender wrote before the room's sender took over), both ways, and RTX as aiortc wraps it."""

from __future__ import annotations

import pytest
from aiortc import rtp
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from hypothesis import given
from hypothesis import strategies as st

from media.webrtc.rtpout import HISTORY, Extensions, RtpOut, Rtx, UnitImage, abs_send_time

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
AST = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
NTP = 0xE8D2_1F3A_8000_1234


def _map(mid_id: int, ast_id: int) -> rtp.HeaderExtensionsMap:
    extensions = [RTCRtpHeaderExtensionParameters(id=i, uri=uri) for i, uri in ((mid_id, MID), (ast_id, AST)) if i]
    mapping = rtp.HeaderExtensionsMap()
    mapping.configure(RTCRtpParameters(headerExtensions=extensions))
    return mapping


def _aiortc(payloads: list[bytes], *, pt: int, seq: int, ts: int, ssrc: int, mid: str | None,
            mapping: rtp.HeaderExtensionsMap) -> list[bytes]:
    """What aiortc 1.16's RTCRtpSender._run_rtp writes for one frame."""
    out = []
    for i, payload in enumerate(payloads):
        packet = rtp.RtpPacket(payload_type=pt, sequence_number=(seq + i) & 0xFFFF, timestamp=ts)
        packet.ssrc = ssrc
        packet.payload = payload
        packet.marker = 1 if i == len(payloads) - 1 else 0
        packet.extensions.abs_send_time = abs_send_time(NTP)
        packet.extensions.mid = mid
        out.append(packet.serialize(mapping))
    return out


@pytest.mark.parametrize(("mid_id", "ast_id", "mid"), [(1, 3, "0"), (4, 2, "video"), (0, 3, None), (1, 0, "1"),
                                                       (0, 0, None), (15, 3, "0"), (1, 3, "x" * 17)])
def test_packets_are_the_bytes_aiortc_writes(mid_id: int, ast_id: int, mid: str | None) -> None:
    payloads = [b"\x7c\x85" + bytes(range(200)), b"\x7c\x05" + b"\xaa" * 50, b"\x7c\x45\x01"]
    out = RtpOut(ssrc=0xDEADBEEF, payload_type=102, sequence_number=0xFFFE, timestamp_origin=0xFFFF_FF00,
                 mid=mid, extensions=Extensions(mid_id, ast_id))
    packets = out.packets(payloads, 0x200, NTP)
    mapping = _map(mid_id, ast_id)
    assert packets == _aiortc(payloads, pt=102, seq=0xFFFE, ts=0x100, ssrc=0xDEADBEEF, mid=mid, mapping=mapping)
    parsed = [rtp.RtpPacket.parse(p, mapping) for p in packets]
    assert [p.sequence_number for p in parsed] == [0xFFFE, 0xFFFF, 0]  # wraps
    assert [p.marker for p in parsed] == [0, 0, 1]
    assert [p.payload for p in parsed] == payloads
    assert out.sequence_number == 1
    assert (out.packet_count, out.octet_count, out.rtp_timestamp) == (3, sum(map(len, payloads)), 0x100)


@given(payloads=st.lists(st.binary(min_size=1, max_size=1200), min_size=1, max_size=8),
       seq=st.integers(0, 0xFFFF), ts=st.integers(0, 0xFFFFFFFF), origin=st.integers(0, 0xFFFFFFFF),
       mid=st.sampled_from(["0", "1", "audio-video"]))
def test_any_unit_parses_back(payloads: list[bytes], seq: int, ts: int, origin: int, mid: str) -> None:
    out = RtpOut(ssrc=7, payload_type=96, sequence_number=seq, timestamp_origin=origin, mid=mid,
                 extensions=Extensions(1, 3))
    mapping = _map(1, 3)
    for i, packet in enumerate(out.packets(payloads, ts, NTP)):
        parsed = rtp.RtpPacket.parse(packet, mapping)
        assert (parsed.sequence_number, parsed.timestamp, parsed.ssrc) == ((seq + i) & 0xFFFF, (origin + ts) & 0xFFFFFFFF, 7)
        assert parsed.payload == payloads[i] and parsed.extensions.mid == mid
        assert parsed.extensions.abs_send_time == abs_send_time(NTP)


def test_retransmission_is_the_packet_or_aiortcs_rtx_wrap() -> None:
    mapping = _map(1, 3)
    payloads = [b"\x7c\x85" + b"\x01" * 30, b"\x7c\x45" + b"\x02" * 10]
    plain = RtpOut(ssrc=11, payload_type=102, sequence_number=500, timestamp_origin=0, mid="0",
                   extensions=Extensions(1, 3))
    sent = plain.packets(payloads, 9000, NTP)
    assert plain.retransmission(501) == sent[1]
    assert plain.retransmission(502) is None  # not sent yet

    out = RtpOut(ssrc=11, payload_type=102, sequence_number=500, timestamp_origin=0, mid="0",
                 extensions=Extensions(1, 3), rtx=Rtx(103, 12), rtx_sequence_number=0xFFFF)
    sent = out.packets(payloads, 9000, NTP)
    for i, rtx_seq in ((1, 0xFFFF), (0, 0)):
        wrapped = rtp.wrap_rtx(rtp.RtpPacket.parse(sent[i], mapping), payload_type=103, sequence_number=rtx_seq, ssrc=12)
        assert out.retransmission(500 + i) == wrapped.serialize(mapping)
    for _ in range(HISTORY // 2):
        out.packets(payloads, 9000, NTP)
    assert out.retransmission(500) is None  # overwritten in the history
    assert out.retransmission(500 + HISTORY + 1) is not None


def test_no_extensions_means_no_extension_bit() -> None:
    packet = RtpOut(ssrc=1, payload_type=96, sequence_number=0, timestamp_origin=0).packets([b"x"], 0, NTP)[0]
    assert packet == bytes([0x80, 0xE0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) + b"x"


@given(payloads=st.lists(st.binary(min_size=1, max_size=1200), min_size=1, max_size=8),
       seq=st.integers(0, 0xFFFF), gap=st.integers(0, 16), ids=st.sampled_from([(1, 3), (0, 3), (1, 0), (0, 0), (15, 3)]))
def test_headers_over_a_unit_image_are_the_same_packets_apart_by_the_gap(payloads: list[bytes], seq: int, gap: int,
                                                                         ids: tuple[int, int]) -> None:
    def stream() -> RtpOut:
        return RtpOut(ssrc=9, payload_type=96, sequence_number=seq, timestamp_origin=5, mid="0",
                      extensions=Extensions(*ids), rtx=Rtx(97, 10))

    written, built = stream(), stream()
    sent = written.take(payloads, 3000, NTP)
    image = UnitImage(payloads, sent.block, gap)
    buffer = memoryview(bytearray(image.data))
    written.write_headers(buffer, image.spans, sent)
    packets = built.packets(payloads, 3000, NTP)
    assert [bytes(buffer[start:start + length]) for start, length in image.spans] == packets
    assert [start for start, _ in image.spans] == [sum(len(p) + gap for p in packets[:i]) for i in range(len(packets))]
    assert len(image.data) == sum(len(p) + gap for p in packets)
    assert (written.sequence_number, written.packet_count, written.octet_count, written.rtp_timestamp) == (
        built.sequence_number, built.packet_count, built.octet_count, built.rtp_timestamp)
    assert [written.retransmission((seq + i) & 0xFFFF) for i in range(len(payloads))] == [
        built.retransmission((seq + i) & 0xFFFF) for i in range(len(payloads))]


@given(payload=st.binary(min_size=1, max_size=1200), seq=st.integers(0, 0xFFFF),
       ids=st.sampled_from([(1, 3), (0, 3), (1, 0), (0, 0), (15, 3)]))
def test_a_unit_of_one_packet_is_written_as_packets_makes_it(payload: bytes, seq: int, ids: tuple[int, int]) -> None:
    def stream() -> RtpOut:
        return RtpOut(ssrc=9, payload_type=111, sequence_number=seq, timestamp_origin=5, mid="1",
                      extensions=Extensions(*ids))

    written, built = stream(), stream()
    sent = written.take_with([payload], 960, written.block(NTP), len(payload))
    buffer = memoryview(bytearray(b"\xee" * 1400))
    size = written.write_packet(buffer, sent)
    assert [bytes(buffer[:size])] == built.packets([payload], 960, NTP)
    assert (written.sequence_number, written.packet_count, written.octet_count, written.rtp_timestamp) == (
        built.sequence_number, built.packet_count, built.octet_count, built.rtp_timestamp)
    assert written.retransmission(seq) == built.retransmission(seq)


def test_a_unit_longer_than_the_history_keeps_its_last_packets_only() -> None:
    out = RtpOut(ssrc=1, payload_type=96, sequence_number=0, timestamp_origin=0)
    sent = out.packets([bytes([i % 256]) for i in range(HISTORY + 2)], 0, NTP)
    assert out.retransmission(0) is None and out.retransmission(1) is None
    assert out.retransmission(2) == sent[2] and out.retransmission(HISTORY + 1) == sent[-1]
