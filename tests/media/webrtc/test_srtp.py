"""media.webrtc.srtp against pylibsrtp's own ``Session.protect`` and ``unprotect`` with each SRTP
profile aiortc negotiates: packets protected in place are the bytes ``protect`` gives, back to
back, and the receiver's session takes them."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from pylibsrtp import Policy, Session

from media.webrtc import srtp
from media.webrtc.rtpout import Extensions, RtpOut, UnitImage
from media.webrtc.srtp import PacketBuffer, PylibsrtpShapeChanged, Sealer, check_pylibsrtp

PROFILES = {  # profile: master key + salt length, trailer
    Policy.SRTP_PROFILE_AES128_CM_SHA1_80: (30, 10),
    Policy.SRTP_PROFILE_AEAD_AES_128_GCM: (28, 16),
    Policy.SRTP_PROFILE_AEAD_AES_256_GCM: (44, 16),
}
NTP = 0xE8D2_1F3A_8000_1234


def _sessions(profile: int) -> tuple[Session, Session, Session]:
    """Two sending sessions with one key (ours and pylibsrtp's protect), and the receiver's."""
    key = os.urandom(PROFILES[profile][0])
    out = [Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)) for _ in range(2)]
    return out[0], out[1], Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))


def _stream() -> RtpOut:
    return RtpOut(ssrc=0xDEADBEEF, payload_type=102, sequence_number=0xFFF0, timestamp_origin=7, mid="0",
                  extensions=Extensions(1, 3))


@pytest.mark.parametrize("profile", list(PROFILES), ids=["aes128-cm-sha1-80", "aead-aes-128-gcm", "aead-aes-256-gcm"])
def test_sealed_packets_are_what_protect_gives_back_to_back(profile: int) -> None:
    ours, theirs, receiver = _sessions(profile)
    sealer = Sealer(ours)
    buffer = PacketBuffer(size=4096)  # smaller than the second unit: it grows
    written, built = _stream(), _stream()
    units = [[b"\x7c\x85" + bytes(range(200)), b"\x7c\x45" + b"\xaa" * 199], [b"\x65" + b"\x01" * 1000] * 5,
             [b"\x41\x9a"], [b"\x7c\x85" + b"\x02" * 1186] * 8 + [b"\x7c\x45" + b"\x03" * 600]]
    for i, payloads in enumerate(units):
        sent = written.take(payloads, 3000 * i, NTP)
        image = UnitImage(payloads, sent.block, sealer.trailer)
        buffer.reserve(len(image.data))[:len(image.data)] = image.data
        written.write_headers(buffer.view, image.spans, sent)
        sizes = sealer.seal(buffer, image.spans)
        sealed = bytes(buffer.view[:sum(sizes)])
        clear = built.packets(payloads, 3000 * i, NTP)
        expected = [theirs.protect(packet) for packet in clear]
        assert sizes == [len(p) for p in expected]
        assert sealed == b"".join(expected)
        assert sealer.trailer == PROFILES[profile][1]
        at = 0
        for size, packet in zip(sizes, clear, strict=True):
            assert receiver.unprotect(sealed[at:at + size]) == packet
            at += size
    assert len(buffer.data) > 4096


@pytest.mark.parametrize("profile", list(PROFILES), ids=["aes128-cm-sha1-80", "aead-aes-128-gcm", "aead-aes-256-gcm"])
def test_one_packet_sealed_alone_is_what_protect_gives(profile: int) -> None:
    ours, theirs, receiver = _sessions(profile)
    sealer = Sealer(ours)
    buffer = PacketBuffer(size=2048)
    written, built = _stream(), _stream()
    for i, payload in enumerate([b"\xfc" + bytes(range(159)), b"\xfc" * 80, b"\x41\x9a" + b"\x05" * 1100]):
        sent = written.take_with([payload], 960 * i, written.block(NTP), len(payload))
        clear = written.write_packet(buffer.view, sent)
        size = sealer.seal_one(buffer, clear)
        packet = built.packets([payload], 960 * i, NTP)[0]
        assert bytes(buffer.view[:size]) == theirs.protect(packet)
        assert receiver.unprotect(bytes(buffer.view[:size])) == packet
        assert sealer.trailer == PROFILES[profile][1]


def test_a_refused_packet_raises() -> None:
    sealer = Sealer(_sessions(Policy.SRTP_PROFILE_AES128_CM_SHA1_80)[0])
    buffer = PacketBuffer(size=64)
    buffer.view[:4] = b"\x80\x60\x00\x01"
    with pytest.raises(srtp.SrtpError, match="srtp_protect failed"):
        sealer.seal(buffer, [(0, 4)])  # shorter than an RTP header


def test_check_passes_and_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    check_pylibsrtp()
    monkeypatch.setattr(srtp, "lib", SimpleNamespace())
    with pytest.raises(PylibsrtpShapeChanged, match=r"lib\.srtp_protect"):
        check_pylibsrtp()
    monkeypatch.undo()

    def init_without_context(self: object, *args: object) -> None:
        return None

    monkeypatch.setattr(Session, "__init__", init_without_context)
    with pytest.raises(PylibsrtpShapeChanged, match=r"Session\._srtp"):
        check_pylibsrtp()
